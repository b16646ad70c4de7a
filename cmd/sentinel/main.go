// Command sentinel watches API request logs and alerts when a token starts
// pulling unusual volumes of messages. See the README for its use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `sentinel: alerts when an API token starts pulling unusual volumes of messages

Usage:
  sentinel run [--config FILE] [--warm PATH]... [SOURCE...]   follow logs, alert live
  sentinel replay [--config FILE] [--report FILE] PATH...     replay history, alerts on stdout
  sentinel train [--config FILE] [--out FILE] PATH...         train the isolation forest on history
  sentinel tune --budget N [--config FILE] [flags] PATH...    propose thresholds that keep alerts within a budget
  sentinel ship [--config FILE] [--to URL] [SOURCE...]        send each request of log files to Kafka
  sentinel check --config FILE                                validate a configuration
  sentinel silence add|list|rm [flags]                        hold back a token's or addresses' alerts for a while
  sentinel fingerprint                                        read a token on stdin, print its fingerprint
  sentinel verify [--state-dir DIR] [--head HASH] [FILE]      check the evidence log for edits and cuts
  sentinel generate [flags]                                   write generated traffic with attacks
  sentinel eval scenarios [flags]                             score detection on generated traffic
  sentinel eval nab --data DIR --out DIR [--detectors LIST]   score streaming detectors on the NAB benchmark
  sentinel version

Run "sentinel COMMAND -h" for a command's flags.
`

type command func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

var commands = map[string]command{
	"run":         runCmd,
	"replay":      replayCmd,
	"train":       trainCmd,
	"tune":        tuneCmd,
	"ship":        shipCmd,
	"check":       checkCmd,
	"silence":     silenceCmd,
	"fingerprint": fingerprintCmd,
	"verify":      verifyCmd,
	"generate":    generateCmd,
	"eval":        evalCmd,
	"version":     versionCmd,
}

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sentinel: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	// SIGINT and SIGTERM cancel the context, and each command saves what
	// it must before returning; run also takes SIGHUP to reload.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "sentinel %s: %v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "sentinel %s: %v\n", args[0], err)
	return 1
}

var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
