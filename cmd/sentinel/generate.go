package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/gen"
)

func generateCmd(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("generate", stderr)
	seed := fs.Int64("seed", 1, "random seed: the same seed gives the same traffic")
	tokens := fs.Int("tokens", 300, fmt.Sprintf("number of tokens (at least %d with -attacks)", gen.MinAttackTokens))
	days := fs.Float64("days", 7, fmt.Sprintf("days of traffic (at least %g with -attacks)", gen.MinAttackDuration.Hours()/24))
	attacks := fs.Bool("attacks", true, "inject attacks and look-alikes")
	out := fs.String("out", "-", "file to write the log to, gzipped when it ends in .gz (- for stdout)")
	truth := fs.String("truth", "", "file to write the ground truth to (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := gen.Options{Seed: *seed, Tokens: *tokens, Duration: time.Duration(*days * float64(24*time.Hour)), Attacks: *attacks}
	if err := checkGenerate(opts); err != nil {
		return err
	}
	if *out == "-" {
		return generateTo(stdout, opts, *truth)
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("creating %s: %w", *out, err)
	}
	err = generateFile(f, *out, opts, *truth)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out) // a half-written log would mislead a later replay
	}
	return err
}

// checkGenerate says in the command's own words what the generator needs.
func checkGenerate(o gen.Options) error {
	if o.Tokens <= 0 || o.Duration <= 0 {
		return usageErr("-tokens and -days must be positive")
	}
	if !o.Attacks {
		return nil
	}
	if o.Tokens < gen.MinAttackTokens {
		return usageErr("-tokens %d is too few for the attack scenarios: give at least %d, or -attacks=false", o.Tokens, gen.MinAttackTokens)
	}
	if o.Duration < gen.MinAttackDuration {
		return usageErr("-days %g is too short for the attack scenarios (baselines need two days first): give at least %g, or -attacks=false",
			o.Duration.Hours()/24, gen.MinAttackDuration.Hours()/24)
	}
	return nil
}

func generateFile(f *os.File, name string, opts gen.Options, truth string) error {
	if !strings.HasSuffix(name, ".gz") {
		return generateTo(f, opts, truth)
	}
	zw := gzip.NewWriter(f)
	if err := generateTo(zw, opts, truth); err != nil {
		return err
	}
	return zw.Close()
}

func generateTo(w io.Writer, opts gen.Options, truth string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	t, err := gen.Generate(opts, bw)
	if err != nil {
		return fmt.Errorf("generating traffic: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing traffic: %w", err)
	}
	if truth == "" {
		return nil
	}
	return writeTruth(truth, t)
}

func writeTruth(path string, t *gen.Truth) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := t.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
