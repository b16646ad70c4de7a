// Package app turns a configuration into running parts: the logger, the
// sources and their formats, the engine's options and the alert sinks.
// It is what the command line calls, so that cmd/sentinel stays a thin
// layer of flags.
package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// Version is set at build time with -ldflags "-X ...app.Version=...";
// without it, it is the module version go install recorded, or the
// commit a build from a git checkout recorded, or "dev".
var Version = "dev"

// NewLogger builds sentinel's own logger: JSON when w is not a terminal
// (journald, files), readable text when it is.
func NewLogger(c config.Log, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	if c.Format == "console" || (c.Format == "auto" && isTerminal(w)) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// EngineOptions returns the options shared by replay and live runs. It
// loads the isolation forest's model, and logs which.
func EngineOptions(c *config.Config, log zerolog.Logger) (engine.Options, error) {
	o := BaseOptions(c, log)
	forest, src, err := forestOptions(c)
	if err != nil {
		return engine.Options{}, err
	}
	o.Detect.Forest = forest
	if m := forest.Model; m != nil {
		meta := m.Meta()
		log.Info().Str("model", string(src)).Time("trained_at", meta.TrainedAt).Int("windows", meta.Rows).
			Float64("threshold", forest.ThresholdFor(m)).Float64("calibrated_threshold", meta.Threshold).
			Msg("isolation forest loaded")
	}
	return o, nil
}

// BaseOptions returns the engine options without the isolation forest's
// model: what training a model starts from.
func BaseOptions(c *config.Config, log zerolog.Logger) engine.Options {
	o := engine.Options{
		Features: features.Options{Window: c.Windows.Size, Lateness: c.Windows.Lateness},
		Detect:   detectOptions(c.Detect),
		Labels:   c.Labels,
		Logger:   log,
	}
	o.Contracts = contracts(c.Contracts) // detect.go
	o.Detect.Forest.MinRequests = c.Detect.IForest.MinRequests
	limitOptions(c, &o) // limits.go
	return o
}

// Sources returns the engine sources: the paths given on the command line
// when there are any, else those of the configuration.
func Sources(c *config.Config, args []string) ([]engine.Source, error) {
	if len(args) > 0 {
		return argSources(c, args)
	}
	if len(c.Sources) == 0 {
		return nil, fmt.Errorf("no sources: name files on the command line or list them under sources: in the configuration")
	}
	out := make([]engine.Source, 0, len(c.Sources))
	for i, s := range c.Sources {
		if s.Kafka != nil {
			continue // read by runStream, never as files
		}
		f, err := format(c, s)
		if err != nil {
			return nil, fmt.Errorf("sources[%d]: %w", i, err)
		}
		out = append(out, engine.Source{Paths: []string{s.Path}, Format: f})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no file sources: the configuration's sources are Kafka topics, which only sentinel run reads; name files on the command line")
	}
	return out, nil
}

// argSources groups paths named on the command line by the configured
// source they belong to, so that replaying a gateway's rotated files
// (access.log.1, access.log.2.gz) reads them in that gateway's format.
// A path belongs to a source whose path or glob matches it, or whose file
// name it extends; with a single configured source, every path belongs to
// it. Other paths take the top-level format.
func argSources(c *config.Config, args []string) ([]engine.Source, error) {
	groups := make(map[int][]string)
	var order []int
	for _, a := range args {
		i := sourceOf(c, a)
		if _, ok := groups[i]; !ok {
			order = append(order, i)
		}
		groups[i] = append(groups[i], a)
	}
	out := make([]engine.Source, 0, len(order))
	for _, i := range order {
		src := config.Source{}
		if i >= 0 {
			src = c.Sources[i]
		}
		f, err := format(c, src)
		if err != nil {
			return nil, err
		}
		out = append(out, engine.Source{Paths: groups[i], Format: f})
	}
	return out, nil
}

// sourceOf returns the index of the configured source path belongs to,
// or -1.
func sourceOf(c *config.Config, path string) int {
	for i, s := range c.Sources {
		if s.Path == "" {
			continue // a Kafka source
		}
		if ok, _ := filepath.Match(s.Path, path); ok || strings.HasPrefix(path, s.Path) {
			return i
		}
	}
	for i, s := range c.Sources {
		if s.Path != "" && strings.HasPrefix(filepath.Base(path), filepath.Base(s.Path)) {
			return i
		}
	}
	if len(c.Sources) == 1 {
		return 0
	}
	return -1
}

func format(c *config.Config, s config.Source) (engine.Format, error) {
	m, rules, err := c.Resolve(s)
	if err != nil {
		return engine.Format{}, err
	}
	return engine.Format{Mapping: m, Pull: rules}, nil
}

// Dispatcher builds the configured sinks behind a dispatcher that
// delivers from ob, or from memory when ob is nil. stdout is where the
// stdout sink writes. It fails when a sink names an unset environment
// variable, so that run refuses to start without its secrets.
func Dispatcher(c *config.Config, ob alert.Outbox, stdout io.Writer, log zerolog.Logger) (*alert.Dispatcher, error) {
	if err := c.SinkErrors(); err != nil {
		return nil, fmt.Errorf("settings read from the environment: %w", err)
	}
	specs := make([]alert.SinkSpec, 0, len(c.Alerts.Sinks))
	for i, s := range c.Alerts.Sinks {
		spec, err := sink(s, stdout, incidentStore(c, ob, s), log)
		if err != nil {
			closeSinks(specs)
			return nil, fmt.Errorf("alerts.sinks[%d]: %w", i, err)
		}
		spec.MinSeverity = s.MinSeverity
		spec.SendResolved = s.Resolved()
		spec.GroupWait = s.Grouping()
		spec.Key = s.Key()
		specs = append(specs, spec)
	}
	opts := alert.DispatchOptions{Horizon: c.Alerts.Horizon, Outbox: ob, RetryFor: c.Alerts.RetryFor, Logger: log}
	return alert.NewDispatcher(specs, opts), nil
}

// closeSinks closes the sinks already built when a later one cannot be,
// so that a rejected configuration leaves no file open and no re-send
// goroutine running.
func closeSinks(specs []alert.SinkSpec) {
	for _, s := range specs {
		if c, ok := s.Sink.(interface{ Close() error }); ok {
			_ = c.Close() // nothing was sent to it
		}
	}
}

// incidentStore is where an alertmanager sink keeps its firing
// incidents: a file in the state directory of a daemon, which has an
// outbox there, and nowhere for the other commands.
func incidentStore(c *config.Config, ob alert.Outbox, s config.Sink) alert.IncidentStore {
	if ob == nil || s.Type != "alertmanager" {
		return nil
	}
	return fileStore(filepath.Join(c.StateDir, strings.ReplaceAll(s.Key(), ":", "-")+".json"))
}

// fileStore is an alert.IncidentStore in one file, replaced atomically.
type fileStore string

func (f fileStore) Load() ([]byte, error) {
	data, err := os.ReadFile(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f, err)
	}
	return data, nil
}

func (f fileStore) Save(doc []byte) error {
	return state.WriteAtomic(string(f), func(w io.Writer) error {
		_, err := w.Write(doc)
		return err
	})
}

func sink(s config.Sink, stdout io.Writer, incidents alert.IncidentStore, log zerolog.Logger) (alert.SinkSpec, error) {
	switch s.Type {
	case "stdout":
		return alert.SinkSpec{Sink: alert.NewWriterSink("stdout", stdout)}, nil
	case "file":
		fs, err := alert.OpenFileSink(s.Path)
		if err != nil {
			return alert.SinkSpec{}, err
		}
		return alert.SinkSpec{Sink: fs}, nil
	case "webhook":
		wh, err := alert.NewWebhook(alert.WebhookOptions{Name: s.Name, URL: s.URL, Headers: s.Headers, Timeout: s.Timeout, Version: Version, Secret: s.Secret})
		if err != nil {
			return alert.SinkSpec{}, err
		}
		return alert.SinkSpec{Sink: wh, Push: true}, nil
	case "slack":
		sl, err := alert.NewSlack(alert.SlackOptions{Name: s.Name, URL: s.URL, Timeout: s.Timeout, Version: Version})
		if err != nil {
			return alert.SinkSpec{}, err
		}
		return alert.SinkSpec{Sink: sl, Push: true}, nil
	case "alertmanager":
		am, err := alert.NewAlertmanager(alert.AlertmanagerOptions{
			Name: s.Name, URL: s.URL, Store: incidents, Headers: s.Headers, Timeout: s.Timeout, Resend: s.Resend,
			Version: Version, Logger: log,
		})
		if err != nil {
			return alert.SinkSpec{}, err
		}
		return alert.SinkSpec{Sink: am, Push: true}, nil
	}
	return alert.SinkSpec{}, fmt.Errorf("unknown sink type %q", s.Type)
}
