package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sentinel-project/sentinel/pkg/gen"
)

func generateCmd(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("generate", stderr)
	seed := fs.Int64("seed", 1, "random seed: the same seed gives the same traffic")
	tokens := fs.Int("tokens", 300, "number of tokens (tenants' API keys)")
	days := fs.Float64("days", 7, "days of traffic")
	attacks := fs.Bool("attacks", true, "inject attacks and look-alikes")
	out := fs.String("out", "-", "file to write the log to (- for stdout)")
	truth := fs.String("truth", "", "file to write the ground truth to (JSON)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("creating %s: %w", *out, err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	opts := gen.Options{Seed: *seed, Tokens: *tokens, Duration: time.Duration(*days * float64(24*time.Hour)), Attacks: *attacks}
	t, err := gen.Generate(opts, bw)
	if err != nil {
		return fmt.Errorf("generating traffic: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing traffic: %w", err)
	}
	if *truth == "" {
		return nil
	}
	return writeTruth(*truth, t)
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
