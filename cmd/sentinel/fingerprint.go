package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// fingerprintCmd reads the token on stdin rather than as an argument so
// that it never lands in the shell's history or the process list.
func fingerprintCmd(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("fingerprint", stderr)
	keyID := fs.Bool("key-id", false, "the input is a key id (no hint is shown)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading the token from standard input: %w", err)
	}
	// Only the line ending is dropped here; the rest is what the parser
	// does to a credential field, so the fingerprint matches the alerts'.
	raw := string(ingest.StripBearer([]byte(strings.TrimRight(line, "\r\n"))))
	if raw == "" {
		return usageErr("no token on standard input (try: sentinel fingerprint < tokenfile)")
	}
	c := ingest.NewCredential(raw, *keyID)
	if c.Hint == "" {
		fmt.Fprintln(stdout, c.FP)
		return nil
	}
	fmt.Fprintf(stdout, "%s (hint …%s)\n", c.FP, c.Hint)
	return nil
}
