// Package config reads sentinel's YAML configuration. It parses strictly
// (an unknown key is an error), then validates, reporting the field that
// is wrong and what it allows. Defaults live here and nowhere else, so
// sentinel works without any file.
package config

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Config is the whole configuration file.
type Config struct {
	// StateDir holds checkpoints and the alert journal.
	StateDir string `yaml:"state_dir"`
	// CheckpointInterval is how often learned state and file positions
	// are saved; they are also saved on a clean stop.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	Sources            []Source      `yaml:"sources"`
	// Format, Mapping and Pull apply to sources that do not set their own,
	// including those named on the command line.
	Format  string            `yaml:"format"`
	Mapping *ingest.Mapping   `yaml:"mapping"`
	Pull    []ingest.PullRule `yaml:"pull"`
	Windows Windows           `yaml:"windows"`
	Detect  Detect            `yaml:"detect"`
	Alerts  Alerts            `yaml:"alerts"`
	// Labels names keys to a label such as the tenant, shown in alerts.
	// A key is a token fingerprint, a client address or a source path;
	// Validate rejects anything else, which would never match.
	Labels map[string]string `yaml:"labels"`
	Log    Log               `yaml:"log"`
	// Limits bounds what sentinel tracks and the memory it uses.
	Limits Limits `yaml:"limits"`
	// Admin is the local HTTP listener for metrics and health checks.
	Admin Admin `yaml:"admin"`
	// Allow lists tokens and addresses whose alerts are not delivered.
	Allow Allow `yaml:"allow"`
	// Evidence is the log of every alert's evidence; see evidence.go.
	Evidence Evidence `yaml:"evidence"`
	// Ship is where `sentinel ship` sends the requests it reads.
	Ship Ship `yaml:"ship"`
	// Contracts are tokens' declared usage, by token fingerprint; see
	// contracts.go.
	Contracts map[string]Contract `yaml:"contracts"`

	sum string // SHA256's value, empty for the defaults
	// lines maps a field path to the line of its key, for messages.
	lines map[string]int
	// unsetEnv maps a sink field to the environment variable it names
	// that is not set; see SinkErrors.
	unsetEnv map[string]string
}

// Source is one place request logs come from.
type Source struct {
	// Path is a file, a glob, or "-" for standard input.
	Path string `yaml:"path"`
	// Kafka reads the source from Kafka topics instead of a path; see
	// kafka.go. Its format is "shipped" unless given.
	Kafka *Kafka `yaml:"kafka"`
	// Format is a preset name (see ingest.PresetNames); canonical by
	// default. Mapping fields given override the preset's.
	Format  string            `yaml:"format"`
	Mapping *ingest.Mapping   `yaml:"mapping"`
	Pull    []ingest.PullRule `yaml:"pull"`
}

// Windows sets the event-time windows features are counted in.
type Windows struct {
	Size     time.Duration `yaml:"size"`
	Lateness time.Duration `yaml:"lateness"`
}

// Detect tunes the baseline detectors. Zero values take the defaults.
type Detect struct {
	Warmup      time.Duration `yaml:"warmup"`
	Cooldown    time.Duration `yaml:"cooldown"`
	HalfLife    time.Duration `yaml:"half_life"`
	Z           float64       `yaml:"z"`
	Ratio       float64       `yaml:"ratio"`
	PeakRatio   float64       `yaml:"peak_ratio"`
	PopulationZ float64       `yaml:"population_z"`
	// MinMessages is the fewest messages a token must pull in one window
	// before it can alert on volume, however quiet it usually is.
	MinMessages float64 `yaml:"min_messages"`
	// IdleTTL is how long an entity may be silent before it is forgotten.
	IdleTTL time.Duration `yaml:"idle_ttl"`
	// Horizon is the span of the slower sum that catches pulls staying
	// under every one-minute threshold; HorizonMinMessages its floor for
	// tokens.
	Horizon            time.Duration `yaml:"slow_window"`
	HorizonMinMessages float64       `yaml:"slow_min_messages"`
	// DormantAfter is the silence after which a token waking up is judged
	// without its old peaks.
	DormantAfter time.Duration `yaml:"dormant_after"`
	// IForest configures the isolation forest, which judges each closed
	// token window by all its features together.
	IForest IForest `yaml:"iforest"`
	// Novelty configures the detector of tokens used from a network and
	// with a client they have never used.
	Novelty Novelty `yaml:"novelty"`
	// Budget configures the detector of tokens pulling several times
	// their usual day over hours (low and slow); off by default.
	Budget Budget `yaml:"budget"`
}

// Budget configures the "budget" detector.
type Budget struct {
	// Enabled turns the detector on; default false: it catches two
	// low-and-slow pulls in three at the cost of twice the false alerts
	// and about 176 bytes a token (docs/detection.md).
	Enabled bool `yaml:"enabled"`
}

// Novelty configures the "novelty" detector.
type Novelty struct {
	// Enabled turns the detector on; default true.
	Enabled *bool `yaml:"enabled"`
	// After is how long a token must have been known before its networks
	// and clients are judged; 0 takes the default, 24h.
	After time.Duration `yaml:"after"`
}

// On reports whether the novelty detector runs.
func (n Novelty) On() bool { return n.Enabled == nil || *n.Enabled }

// IForest configures the isolation-forest detector.
type IForest struct {
	// Enabled turns the detector on; default true.
	Enabled *bool `yaml:"enabled"`
	// Model is the model file to load. Empty means the one `sentinel
	// train` wrote to the state directory (iforest.model) when there is
	// one, else the model that ships with sentinel.
	Model string `yaml:"model"`
	// Threshold is the score, between 0.5 and 1, above which a window
	// alerts; 0 takes the threshold calibrated when the model was trained.
	Threshold float64 `yaml:"threshold"`
	// MinRequests: windows with fewer requests are not scored; default 1.
	MinRequests float64 `yaml:"min_requests"`
	// RetrainEvery is how often, in event time, the model is retrained
	// on recent ordinary windows; default 24h. Retrain: false keeps the
	// loaded model for good.
	RetrainEvery time.Duration `yaml:"retrain_every"`
	Retrain      *bool         `yaml:"retrain"`
	// Reservoir is how many recent ordinary windows are kept to retrain
	// on; default 20000.
	Reservoir int `yaml:"reservoir"`
}

// ModelFile is where `sentinel train` writes a model by default and where
// `run` and `replay` look for one, under the state directory.
const ModelFile = "iforest.model"

// On reports whether the detector is enabled.
func (f IForest) On() bool { return f.Enabled == nil || *f.Enabled }

// Retrains reports whether the model is retrained while running.
func (f IForest) Retrains() bool { return f.Retrain == nil || *f.Retrain }

// Alerts configures where alerts go.
type Alerts struct {
	// Horizon: alerts whose event time is older than this go to the file
	// and stdout sinks only, never to Slack or webhooks, so reading a
	// backlog does not page anyone about old events.
	Horizon time.Duration `yaml:"horizon"`
	// RetryFor is how long a sink that keeps failing is retried with an
	// alert before it is given up; alerts wait in the outbox meanwhile.
	RetryFor time.Duration `yaml:"retry_for"`
	Sinks    []Sink        `yaml:"sinks"`
}

// Sink is one alert destination.
type Sink struct {
	// Type is stdout, file, webhook, slack or alertmanager.
	Type string `yaml:"type"`
	// Name names a push sink in logs and metrics and in the outbox, so
	// that its backlog follows it across a change of its URL.
	Name string `yaml:"name"`
	// Path is the file of a file sink.
	Path string `yaml:"path"`
	// URL of a webhook or Slack incoming webhook, or Alertmanager's base
	// URL. "${NAME}" reads it from the environment, which keeps the
	// secret out of the file.
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
	// Secret signs a webhook's requests with HMAC-SHA256 (see
	// docs/alerts.md); "${NAME}" reads it from the environment.
	Secret string `yaml:"secret"`
	// MinSeverity: alerts below it (warning, critical) skip this sink;
	// empty sends all.
	MinSeverity string `yaml:"min_severity"`
	// GroupWait is how long a Slack alert waits for others about the
	// same incident, to be sent with them as one message; 0 sends each
	// alone. Nil takes the default.
	GroupWait *time.Duration `yaml:"group_wait"`
	// SendResolved sends the sink back-to-normal notices (alerts with
	// status resolved); nil takes the type's default, see Resolved.
	SendResolved *bool `yaml:"send_resolved"`
	// Resend is how often an alertmanager sink posts its firing
	// incidents again; default 1m.
	Resend time.Duration `yaml:"resend"`
}

// Resolved reports whether the sink takes back-to-normal notices. By
// default Slack, read by people, and Alertmanager, which needs them to
// resolve its alerts, do; stdout, files and webhooks, read by programs
// written before the notices existed, do not.
func (s Sink) Resolved() bool {
	if s.SendResolved != nil {
		return *s.SendResolved
	}
	return s.Type == "slack" || s.Type == "alertmanager"
}

// Key identifies the sink across restarts and reloads, whatever its
// place in the list: its type and name, or without a name the first 12
// hex digits of the SHA-256 of where it delivers (the URL or the path),
// which cannot be turned back into a secret URL.
func (s Sink) Key() string {
	if s.Name != "" {
		return s.Type + ":" + s.Name
	}
	sum := sha256.Sum256([]byte(s.Type + "\x00" + s.URL + "\x00" + s.Path))
	return s.Type + ":" + hex.EncodeToString(sum[:6])
}

// DefaultGroupWait is a Slack sink's group_wait: the alerts of one
// incident (a token and its address, several detectors) come within
// seconds to half a minute of each other, and Alertmanager's default
// group_wait is the same.
const DefaultGroupWait = 30 * time.Second

// Grouping returns how long the sink's alerts wait for others of their
// incident: group_wait for Slack, DefaultGroupWait when unset; 0 for the
// other types, which send each alert alone.
func (s Sink) Grouping() time.Duration {
	if s.Type != "slack" {
		return 0
	}
	if s.GroupWait == nil {
		return DefaultGroupWait
	}
	return *s.GroupWait
}

// Log sets sentinel's own logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto, json, console
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// Load reads, checks and completes the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration from YAML, strictly, and validates it. It
// reports every mistake it finds, each naming the field and its line.
// A sink setting naming an unset environment variable is not an error
// here, because only the commands that deliver alerts need it: they call
// SinkErrors.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	lines, err := decode(data, c)
	if err != nil {
		return nil, err
	}
	c.lines = lines
	c.expandEnv()
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c.sum = hex.EncodeToString(sum[:])
	return c, nil
}

// Hash identifies the configuration's text in logs: the first 16 hex
// digits of SHA256, or "default".
func (c *Config) Hash() string {
	if c.sum == "" {
		return "default"
	}
	return c.sum[:16]
}

func (c *Config) applyDefaults() {
	setDefault(&c.StateDir, "sentinel-state")
	if dir := os.Getenv("STATE_DIRECTORY"); dir != "" && c.StateDir == "sentinel-state" {
		// systemd's StateDirectory= sets this.
		c.StateDir = dir
	}
	setDefault(&c.CheckpointInterval, 30*time.Second)
	setDefault(&c.Format, "canonical")
	for _, src := range c.Sources {
		if src.Kafka != nil {
			src.Kafka.applyDefaults()
		}
	}
	if c.Ship.To != nil {
		c.Ship.To.applyDefaults()
	}
	setDefault(&c.Windows.Size, time.Minute)
	setDefault(&c.Windows.Lateness, 30*time.Second)
	setDefault(&c.Alerts.Horizon, 15*time.Minute)
	setDefault(&c.Alerts.RetryFor, 24*time.Hour)
	if len(c.Alerts.Sinks) == 0 {
		c.Alerts.Sinks = []Sink{{Type: "stdout"}}
	}
	for i := range c.Alerts.Sinks {
		setDefault(&c.Alerts.Sinks[i].Timeout, 10*time.Second)
		// A resend written as 0 stays 0 for validation to refuse,
		// rather than silently becoming the default.
		_, given := c.lines[fmt.Sprintf("alerts.sinks[%d].resend", i)]
		if c.Alerts.Sinks[i].Type == "alertmanager" && !given {
			setDefault(&c.Alerts.Sinks[i].Resend, time.Minute)
		}
	}
	setDefault(&c.Detect.IForest.RetrainEvery, 24*time.Hour)
	setDefault(&c.Detect.IForest.Reservoir, 20000)
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "auto")
	c.Limits.applyDefaults(c.Detect.Budget.Enabled)
	c.Admin.applyDefaults()
	c.Evidence.applyDefaults()
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandEnv replaces "${NAME}" in secret-bearing fields by the variable's
// value. Only whole values are expanded, so a "$" inside a URL is safe.
// A variable that is unset or empty is recorded for SinkErrors and the
// field keeps its "${NAME}" text.
func (c *Config) expandEnv() {
	for i, src := range c.Sources {
		if src.Kafka != nil && src.Kafka.SASL != nil {
			c.expandValue(&src.Kafka.SASL.Password, fmt.Sprintf("sources[%d].kafka.sasl.password", i))
		}
	}
	if k := c.Ship.To; k != nil && k.SASL != nil {
		c.expandValue(&k.SASL.Password, "ship.to.sasl.password")
	}
	for i := range c.Alerts.Sinks {
		s := &c.Alerts.Sinks[i]
		field := fmt.Sprintf("alerts.sinks[%d]", i)
		c.expandValue(&s.URL, field+".url")
		c.expandValue(&s.Secret, field+".secret")
		for k, v := range s.Headers {
			c.expandValue(&v, field+".headers."+k)
			s.Headers[k] = v
		}
	}
}

func (c *Config) expandValue(v *string, field string) {
	m := envRef.FindStringSubmatch(*v)
	if m == nil {
		return
	}
	val, ok := os.LookupEnv(m[1])
	if !ok || val == "" {
		if c.unsetEnv == nil {
			c.unsetEnv = map[string]string{}
		}
		c.unsetEnv[field] = m[1]
		return
	}
	*v = val
}

// SinkErrors reports the sink settings written as "${NAME}" whose
// environment variable is unset or empty, naming each field and
// variable (never a value). Commands that deliver alerts must call it
// and refuse to start on an error; replay, which uses no sink, need not.
func (c *Config) SinkErrors() error {
	var errs []error
	for _, field := range sortedKeys(c.unsetEnv) {
		errs = append(errs, c.fieldErr(field, "environment variable %s is not set (or is empty)", c.unsetEnv[field]))
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		return cmp.Compare(a.(*FieldError).Line, b.(*FieldError).Line)
	})
	return joinErrors(errs)
}
