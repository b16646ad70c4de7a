package main

import (
	"flag"
	"io"

	"github.com/sentinel-project/sentinel/pkg/config"
)

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sentinel "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// loadConfig reads the file when one is named, else the defaults.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}
