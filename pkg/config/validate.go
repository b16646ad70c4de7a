package config

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// FieldError says which configuration field is wrong and what it allows.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var sinkTypes = []string{"stdout", "file", "webhook", "slack"}

// Validate checks every field and returns the first mistake found.
func (c *Config) Validate() error {
	checks := []func() error{
		c.validateTimes,
		c.validateSources,
		c.validateDetect,
		c.validateSinks,
		c.validateLog,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateTimes() error {
	if c.CheckpointInterval < time.Second {
		return fieldErr("checkpoint_interval", "%v is too short: allowed is 1s or more", c.CheckpointInterval)
	}
	if c.Windows.Size < time.Second || c.Windows.Size > time.Hour {
		return fieldErr("windows.size", "%v is out of range: allowed is 1s to 1h", c.Windows.Size)
	}
	if c.Windows.Lateness < 0 || c.Windows.Lateness > time.Hour {
		return fieldErr("windows.lateness", "%v is out of range: allowed is 0 to 1h", c.Windows.Lateness)
	}
	if c.Alerts.Horizon < 0 {
		return fieldErr("alerts.horizon", "%v is negative: allowed is a positive duration (default 15m)", c.Alerts.Horizon)
	}
	return nil
}

func (c *Config) validateSources() error {
	if _, _, err := c.Resolve(Source{}); err != nil {
		return fmt.Errorf("format/mapping/pull: %w", err)
	}
	for i, s := range c.Sources {
		field := fmt.Sprintf("sources[%d]", i)
		if strings.TrimSpace(s.Path) == "" {
			return fieldErr(field+".path", "is empty: give a file, a glob, or - for standard input")
		}
		if _, _, err := c.Resolve(s); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// Resolve returns the field mapping and pull rules of a source: its preset,
// overridden field by field by the mapping it gives, with the top-level
// format, mapping and pull rules for whatever it leaves unset.
func (c *Config) Resolve(s Source) (ingest.Mapping, []ingest.PullRule, error) {
	format := s.Format
	if format == "" {
		format = c.Format
	}
	m, err := ingest.Preset(format)
	if err != nil {
		return ingest.Mapping{}, nil, fieldErr("format", "%q is not a preset: allowed are %s", format, strings.Join(ingest.PresetNames(), ", "))
	}
	if s.Format == "" {
		overlay(&m, c.Mapping)
	}
	overlay(&m, s.Mapping)
	if err := m.Validate(); err != nil {
		return ingest.Mapping{}, nil, fmt.Errorf("mapping: %w", err)
	}
	rules := ingest.DefaultPullRules(format)
	switch {
	case len(s.Pull) > 0:
		rules = s.Pull
	case len(c.Pull) > 0:
		rules = c.Pull
	}
	if _, err := ingest.NewParser(m, rules); err != nil {
		return ingest.Mapping{}, nil, fmt.Errorf("pull: %w", err)
	}
	return m, rules, nil
}

// overlay copies every field that over sets onto m.
func overlay(m *ingest.Mapping, over *ingest.Mapping) {
	if over == nil {
		return
	}
	dst := reflect.ValueOf(m).Elem()
	src := reflect.ValueOf(over).Elem()
	for i := range src.NumField() {
		if !src.Field(i).IsZero() {
			dst.Field(i).Set(src.Field(i))
		}
	}
}

func (c *Config) validateDetect() error {
	d := c.Detect
	durations := map[string]time.Duration{
		"detect.warmup": d.Warmup, "detect.cooldown": d.Cooldown,
		"detect.half_life": d.HalfLife, "detect.idle_ttl": d.IdleTTL,
		"detect.slow_window": d.Horizon, "detect.dormant_after": d.DormantAfter,
	}
	for _, name := range sortedKeys(durations) {
		if durations[name] < 0 {
			return fieldErr(name, "%v is negative: allowed is 0 (the default) or a positive duration", durations[name])
		}
	}
	numbers := map[string]float64{
		"detect.z": d.Z, "detect.ratio": d.Ratio, "detect.peak_ratio": d.PeakRatio,
		"detect.population_z": d.PopulationZ, "detect.min_messages": d.MinMessages,
		"detect.slow_min_messages": d.HorizonMinMessages,
	}
	for _, name := range sortedKeys(numbers) {
		if numbers[name] < 0 {
			return fieldErr(name, "%v is negative: allowed is 0 (the default) or a positive number", numbers[name])
		}
	}
	if d.Ratio != 0 && d.Ratio < 1 {
		return fieldErr("detect.ratio", "%v would alert below the usual volume: allowed is 1 or more", d.Ratio)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *Config) validateSinks() error {
	for i, s := range c.Alerts.Sinks {
		field := fmt.Sprintf("alerts.sinks[%d]", i)
		if err := validateSink(field, s); err != nil {
			return err
		}
	}
	return nil
}

func validateSink(field string, s Sink) error {
	if !slices.Contains(sinkTypes, s.Type) {
		return fieldErr(field+".type", "%q is not a sink type: allowed are %s", s.Type, strings.Join(sinkTypes, ", "))
	}
	if s.Timeout <= 0 {
		return fieldErr(field+".timeout", "%v: allowed is a positive duration", s.Timeout)
	}
	switch s.Type {
	case "file":
		if s.Path == "" {
			return fieldErr(field+".path", "is empty: a file sink needs the path to append alerts to")
		}
	case "webhook", "slack":
		return validateURL(field+".url", s.URL)
	}
	return nil
}

// validateURL checks a sink URL without ever printing it: webhook URLs,
// Slack's especially, are secrets.
func validateURL(field, raw string) error {
	if raw == "" {
		return fieldErr(field, "is empty: give an http(s) URL, or ${NAME} to read it from the environment")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(field, "is not a valid URL: allowed is http:// or https:// with a host (value not shown, it may be a secret)")
	}
	return nil
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"auto", "json", "console"}
)

func (c *Config) validateLog() error {
	if !slices.Contains(logLevels, c.Log.Level) {
		return fieldErr("log.level", "%q: allowed are %s", c.Log.Level, strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		return fieldErr("log.format", "%q: allowed are %s", c.Log.Format, strings.Join(logFormats, ", "))
	}
	return nil
}
