package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/sentinel-project/sentinel/pkg/app"
)

func versionCmd(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "sentinel %s (%s)\n", app.Version, runtime.Version())
	return nil
}
