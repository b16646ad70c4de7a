package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sentinel-project/sentinel/pkg/evidence"
)

// verifyCmd checks the evidence log: the state directory's (from
// --state-dir, else the configuration's state_dir), or one FILE on its
// own. --head is the chain of an alert received, which a cut log cannot
// hold.
func verifyCmd(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("verify", stderr)
	cfgPath := fs.String("config", "", "configuration file, for state_dir")
	dir := fs.String("state-dir", "", "state directory holding the evidence log (default: the configuration's state_dir)")
	head := fs.String("head", "", "the chain hash of an alert received: the log must still hold that entry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageErr("at most one FILE, got %d", fs.NArg())
	}
	if *head != "" && !evidence.IsHash(*head) {
		return usageErr("--head %q is not a chain hash: give the 64 hex digits of an alert's chain field", *head)
	}
	opts := evidence.VerifyOptions{Dir: *dir, File: fs.Arg(0), Head: *head}
	if opts.File == "" && opts.Dir == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		opts.Dir = cfg.StateDir
	}
	sum, err := evidence.Verify(opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sum)
	return nil
}
