package config

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// FieldError says which configuration field is wrong and what it allows.
type FieldError struct {
	Field string
	// Line is the line of the field in the file; 0 when unknown.
	Line int
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Field, e.Line, e.Msg)
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// fieldErr is fieldErr with the field's line, when the file gave it.
func (c *Config) fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Line: c.lines[field], Msg: fmt.Sprintf(format, args...)}
}

// maxRetryFor bounds alerts.retry_for: an alert a month old pages no one
// usefully, and the outbox would hold a month of them.
const maxRetryFor = 30 * 24 * time.Hour

var sinkTypes = []string{"stdout", "file", "webhook", "slack", "alertmanager"}

var sinkNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// maxGroupWait bounds group_wait: an alert held longer than this is a
// page arriving late.
const maxGroupWait = 5 * time.Minute

// minResend is the shortest re-send interval accepted for an
// alertmanager sink: shorter only loads Alertmanager.
const minResend = time.Second

// Validate checks every field and returns all the mistakes found, one
// per line, or nil.
func (c *Config) Validate() error {
	return joinErrors([]error{
		c.validateTimes(),
		c.validateSources(),
		c.validateDetect(),
		c.validateSinks(),
		c.validateLabels(),
		c.validateLog(),
		c.validateLimits(),
		c.validateAdmin(),
		c.validateAllow(),
		c.validateEvidence(),
		c.validateShip(),
		c.validateContracts(),
	})
}

func (c *Config) validateTimes() error {
	var errs []error
	if c.CheckpointInterval < time.Second {
		errs = append(errs, c.fieldErr("checkpoint_interval", "%v is too short: allowed is 1s or more", c.CheckpointInterval))
	}
	if c.Windows.Size < time.Second || c.Windows.Size > time.Hour {
		errs = append(errs, c.fieldErr("windows.size", "%v is out of range: allowed is 1s to 1h", c.Windows.Size))
	}
	if c.Windows.Lateness < 0 || c.Windows.Lateness > time.Hour {
		errs = append(errs, c.fieldErr("windows.lateness", "%v is out of range: allowed is 0 to 1h", c.Windows.Lateness))
	}
	if r := c.Alerts.RetryFor; r < time.Minute || r > maxRetryFor {
		errs = append(errs, c.fieldErr("alerts.retry_for", "%v is out of range: allowed is 1m to 720h (default 24h)", r))
	}
	if c.Alerts.Horizon < 0 {
		errs = append(errs, c.fieldErr("alerts.horizon", "%v is negative: allowed is a positive duration (default 15m)", c.Alerts.Horizon))
	}
	return joinErrors(errs)
}

func (c *Config) validateSources() error {
	var errs []error
	_, _, topErr := c.Resolve(Source{})
	if topErr != nil {
		errs = append(errs, fmt.Errorf("format/mapping/pull: %w", topErr))
	}
	for i, s := range c.Sources {
		field := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.Kafka != nil && s.Path != "":
			errs = append(errs, c.fieldErr(field+".path", "is given with kafka: a source is a path or Kafka topics, not both"))
		case s.Kafka != nil:
			errs = append(errs, s.Kafka.validate(field+".kafka", true, c.fieldErr)...)
		case strings.TrimSpace(s.Path) == "":
			errs = append(errs, c.fieldErr(field+".path", "is empty: give a file, a glob, or - for standard input, or kafka"))
		}
		// A source that inherits a broken top-level setting would only
		// repeat its error.
		if topErr != nil && s.Format == "" {
			continue
		}
		if _, _, err := c.Resolve(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	return joinErrors(errs)
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
	var errs []error
	d := c.Detect
	durations := map[string]time.Duration{
		"detect.warmup": d.Warmup, "detect.cooldown": d.Cooldown,
		"detect.half_life": d.HalfLife, "detect.idle_ttl": d.IdleTTL,
		"detect.slow_window": d.Horizon, "detect.dormant_after": d.DormantAfter,
		"detect.novelty.after": d.Novelty.After,
	}
	for _, name := range sortedKeys(durations) {
		if durations[name] < 0 {
			errs = append(errs, c.fieldErr(name, "%v is negative: allowed is 0 (the default) or a positive duration", durations[name]))
		}
	}
	numbers := map[string]float64{
		"detect.z": d.Z, "detect.ratio": d.Ratio, "detect.peak_ratio": d.PeakRatio,
		"detect.population_z": d.PopulationZ, "detect.min_messages": d.MinMessages,
		"detect.slow_min_messages": d.HorizonMinMessages,
	}
	for _, name := range sortedKeys(numbers) {
		if math.IsNaN(numbers[name]) || math.IsInf(numbers[name], 0) {
			errs = append(errs, c.fieldErr(name, "%v: allowed is a finite number (0 for the default)", numbers[name]))
			continue
		}
		if numbers[name] < 0 {
			errs = append(errs, c.fieldErr(name, "%v is negative: allowed is 0 (the default) or a positive number", numbers[name]))
		}
	}
	if d.Ratio > 0 && d.Ratio < 1 {
		errs = append(errs, c.fieldErr("detect.ratio", "%v would alert below the usual volume: allowed is 1 or more", d.Ratio))
	}
	errs = append(errs, c.validateIForest()...)
	return joinErrors(errs)
}

func (c *Config) validateIForest() []error {
	var errs []error
	f := c.Detect.IForest
	if t := f.Threshold; t != 0 && !(t >= 0.5 && t < 1) {
		errs = append(errs, c.fieldErr("detect.iforest.threshold",
			"%v: allowed is 0 (the model's calibrated threshold) or a score from 0.5 up to, not including, 1; ordinary windows score about 0.5 and below", t))
	}
	if m := f.MinRequests; m < 0 || math.IsNaN(m) || math.IsInf(m, 0) {
		errs = append(errs, c.fieldErr("detect.iforest.min_requests", "%v: allowed is 0 (the default, 1) or a positive number", m))
	}
	if f.RetrainEvery < 0 {
		errs = append(errs, c.fieldErr("detect.iforest.retrain_every", "%v is negative: allowed is a positive duration (retrain: false turns retraining off)", f.RetrainEvery))
	}
	if f.Reservoir < 0 || f.Reservoir > 1_000_000 {
		// Each window is 44 bytes in every checkpoint.
		errs = append(errs, c.fieldErr("detect.iforest.reservoir", "%d: allowed is 0 (the default, 20000) up to 1000000 windows", f.Reservoir))
	}
	return errs
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
	var errs []error
	names := map[string]int{}
	for i, s := range c.Alerts.Sinks {
		field := fmt.Sprintf("alerts.sinks[%d]", i)
		errs = append(errs, c.validateSink(field, s))
		if first, dup := names[s.Name]; dup && s.Name != "" {
			errs = append(errs, c.fieldErr(field+".name", "%q is the name of alerts.sinks[%d] too: allowed is a name no other sink has", s.Name, first))
		}
		names[s.Name] = i
	}
	return joinErrors(errs)
}

// validateSink reports every mistake of one sink, not only the first, so
// that one run of check finds them all.
func (c *Config) validateSink(field string, s Sink) error {
	if !slices.Contains(sinkTypes, s.Type) {
		return c.fieldErr(field+".type", "%q is not a sink type: allowed are %s", s.Type, strings.Join(sinkTypes, ", "))
	}
	var errs []error
	for _, check := range []func(string, Sink) error{
		c.validateSinkSettings, c.validateSinkName, c.validateGrouping, c.validateResend, c.validateDestination,
	} {
		errs = append(errs, check(field, s))
	}
	return joinErrors(errs)
}

func (c *Config) validateSinkSettings(field string, s Sink) error {
	var errs []error
	if s.Timeout <= 0 {
		errs = append(errs, c.fieldErr(field+".timeout", "%v: allowed is a positive duration", s.Timeout))
	}
	if s.MinSeverity != "" && s.MinSeverity != "warning" && s.MinSeverity != "critical" {
		errs = append(errs, c.fieldErr(field+".min_severity", "%q is not a severity: allowed are warning and critical (empty sends all)", s.MinSeverity))
	}
	if s.Secret != "" && s.Type != "webhook" {
		errs = append(errs, c.fieldErr(field+".secret", "is set on a %s sink: only webhook sinks are signed", s.Type))
	}
	if s.Type == "alertmanager" && !s.Resolved() {
		errs = append(errs, c.fieldErr(field+".send_resolved", "is false on an alertmanager sink: allowed is true (the default), which is how its alerts resolve"))
	}
	return joinErrors(errs)
}

func (c *Config) validateSinkName(field string, s Sink) error {
	switch {
	case s.Name == "":
		return nil
	case s.Type == "stdout" || s.Type == "file":
		return c.fieldErr(field+".name", "is set on a %s sink: only push sinks (webhook, slack, alertmanager) are named", s.Type)
	case !sinkNameRE.MatchString(s.Name):
		return c.fieldErr(field+".name", "%q: allowed are 1 to 40 letters, digits, - and _", s.Name)
	}
	return nil
}

func (c *Config) validateGrouping(field string, s Sink) error {
	if s.GroupWait != nil && s.Type != "slack" {
		return c.fieldErr(field+".group_wait", "is set on a %s sink: only slack sinks group alerts (alertmanager groups them itself)", s.Type)
	}
	if w := s.Grouping(); w < 0 || w > maxGroupWait {
		return c.fieldErr(field+".group_wait", "%v is out of range: allowed is 0s (no grouping) to %v (default %v)", w, maxGroupWait, DefaultGroupWait)
	}
	return nil
}

// validateDestination checks where a sink delivers: a file's path, a
// push sink's URL and signing secret.
func (c *Config) validateDestination(field string, s Sink) error {
	switch s.Type {
	case "file":
		if s.Path == "" {
			return c.fieldErr(field+".path", "is empty: a file sink needs the path to append alerts to")
		}
	case "webhook", "slack", "alertmanager":
		errs := []error{c.validateSecret(field+".secret", s.Secret)}
		if s.Path != "" {
			errs = append(errs, c.fieldErr(field+".path", "is set on a %s sink: only file sinks have a path (this one posts to its url)", s.Type))
		}
		if _, unset := c.unsetEnv[field+".url"]; !unset {
			// An unset variable is reported by SinkErrors, for the
			// commands that need the sinks.
			errs = append(errs, c.validateURL(field+".url", s.URL))
		}
		return joinErrors(errs)
	}
	return nil
}

// validateResend checks an alertmanager sink's re-send interval, and
// that no other sink sets one it would ignore.
func (c *Config) validateResend(field string, s Sink) error {
	if s.Type != "alertmanager" {
		if s.Resend != 0 {
			return c.fieldErr(field+".resend", "is set on a %s sink: only alertmanager sinks re-send", s.Type)
		}
		return nil
	}
	if s.Resend < minResend {
		return c.fieldErr(field+".resend", "%v: allowed is a duration of %v or more (default 1m)", s.Resend, minResend)
	}
	return nil
}

// minSecret is the shortest signing secret accepted: a short one can be
// guessed from signed requests offline.
const minSecret = 16

// validateSecret checks a signing secret's length, never printing it.
func (c *Config) validateSecret(field, secret string) error {
	if _, unset := c.unsetEnv[field]; unset || secret == "" {
		return nil
	}
	if len(secret) < minSecret {
		return c.fieldErr(field, "is %d characters: allowed is %d or more, e.g. from openssl rand -hex 32 (value not shown)", len(secret), minSecret)
	}
	return nil
}

// validateURL checks a sink URL without ever printing it: webhook URLs,
// Slack's especially, are secrets.
func (c *Config) validateURL(field, raw string) error {
	if raw == "" {
		return c.fieldErr(field, "is empty: give an http(s) URL, or ${NAME} to read it from the environment")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c.fieldErr(field, "is not a valid URL: allowed is http:// or https:// with a host (value not shown, it may be a secret)")
	}
	return nil
}

var fingerprintRE = regexp.MustCompile(fmt.Sprintf("^[0-9a-f]{%d}$", ingest.FingerprintLen))

// validateLabels checks that every labels key can match something: a key
// that is none of these would be accepted and never match.
func (c *Config) validateLabels() error {
	var errs []error
	for _, key := range sortedKeys(c.Labels) {
		if labelKeyValid(key) {
			continue
		}
		errs = append(errs, c.labelErr(key))
	}
	return joinErrors(errs)
}

func labelKeyValid(key string) bool {
	if fingerprintRE.MatchString(key) {
		return true
	}
	if _, err := netip.ParseAddr(key); err == nil {
		return true
	}
	return strings.HasPrefix(key, "/") || strings.ContainsRune(key, '/') || strings.ContainsRune(key, filepath.Separator)
}

const labelAllowed = "not a token fingerprint (12 hex characters, see sentinel fingerprint), an address or a source path"

// labelErr names a wrong labels key. A long key may be a raw token pasted
// by mistake, so it is not printed: its line, its last 4 characters and
// the fingerprint to write instead are.
func (c *Config) labelErr(key string) error {
	line := c.lines["labels."+key]
	if showLabelKey(key) {
		return &FieldError{Field: "labels." + key, Line: line, Msg: labelAllowed}
	}
	return &FieldError{Field: shownPath("labels", key), Line: line, Msg: labelAllowed + rawTokenHint(key, "key")}
}

// rawTokenHint is what an error says of a value long enough to be a
// pasted token: its fingerprint, to write instead, and never the value.
func rawTokenHint(value, what string) string {
	cred := ingest.NewCredential(strings.TrimPrefix(value, "Bearer "), false)
	return "; if it is a raw token, write its fingerprint " + cred.FP + " (the " + what + " is not shown: it may be a secret)"
}

// showLabelKey says whether a labels key is short enough to be a mistyped
// fingerprint or address rather than a pasted token, and so safe to print.
func showLabelKey(key string) bool {
	return len(key) <= 16
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"auto", "json", "console"}
)

func (c *Config) validateLog() error {
	var errs []error
	if !slices.Contains(logLevels, c.Log.Level) {
		errs = append(errs, c.fieldErr("log.level", "%q: allowed are %s", c.Log.Level, strings.Join(logLevels, ", ")))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		errs = append(errs, c.fieldErr("log.format", "%q: allowed are %s", c.Log.Format, strings.Join(logFormats, ", ")))
	}
	return joinErrors(errs)
}
