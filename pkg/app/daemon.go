package app

import (
	"context"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/admin"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/outbox"
	"github.com/sentinel-project/sentinel/pkg/service"
	"github.com/sentinel-project/sentinel/pkg/silence"
)

// Daemon is what `sentinel run` runs.
type Daemon struct {
	// ConfigPath is re-read on Reload; empty means the defaults, which
	// a reload leaves as they are.
	ConfigPath string
	Config     *config.Config
	Sources    []engine.Source
	// Kafka, when set, is the run's only source.
	Kafka  *KafkaSource
	Warm   []string
	Stdout io.Writer
	Log    zerolog.Logger
	// Reload receives a value for each request to re-read the
	// configuration (SIGHUP).
	Reload <-chan struct{}
	// Load reads a configuration file; config.Load when nil.
	Load func(path string) (*config.Config, error)

	// boot is the configuration started with: what a change to a key
	// that takes a restart is measured against.
	boot *config.Config
	// running holds what runs beside the engine, once started.
	running *parts
}

// drainFor bounds how long sinks may take to deliver what is queued at a
// stop or a sink change, so that a dead webhook cannot hold up a restart.
const drainFor = 10 * time.Second

// Run follows the sources until ctx is done, serving the admin listener,
// telling systemd how it goes and taking over reloaded configurations.
func (d *Daemon) Run(ctx context.Context) error {
	d.boot = d.Config
	SetMemoryLimit(d.Config, d.Log)
	eo, err := EngineOptions(d.Config, d.Log)
	if err != nil {
		return err
	}
	p, err := d.start()
	if err != nil {
		return err
	}
	d.running = p
	var runErr error
	if d.Kafka != nil {
		runErr = d.runStream(ctx, eo, p)
	} else {
		runErr = engine.Run(ctx, d.runOptions(ctx, eo, p))
	}
	d.stop(p)
	return runErr
}

// parts are what the daemon runs beside the engine.
type parts struct {
	alerts   *alerter
	outbox   *outbox.Store
	admin    adminServer
	notifier *service.Notifier
	stdout   io.Writer
	allow    *allowlist
	silences *silence.Store
	retune   chan engine.Retune
	done     chan struct{} // closed once the engine has returned
	// reloading is held by the reload goroutine, so that a stop waits
	// for a reload in flight before it closes the sinks and says
	// STOPPING.
	reloading sync.WaitGroup
}

func (d *Daemon) start() (*parts, error) {
	stdout := &lockedWriter{w: d.Stdout}
	ob, err := openOutbox(d.Config.StateDir)
	if err != nil {
		return nil, err
	}
	disp, err := Dispatcher(d.Config, ob, stdout, d.Log)
	if err != nil {
		ob.Close()
		return nil, err
	}
	alerts := newAlerter(disp)
	p := &parts{alerts: alerts, outbox: ob, allow: newAllowlist(d.Config.Allow), stdout: stdout,
		retune: make(chan engine.Retune), done: make(chan struct{})}
	p.silences, err = silence.Open(filepath.Join(d.Config.StateDir, SilencesFile), nil)
	if err == nil {
		p.admin, err = d.startAdmin(p)
	}
	if err != nil {
		alerts.Close(context.Background()) // nothing was sent yet
		ob.Close()
		return nil, err
	}
	if n := pendingAlerts(disp); n > 0 {
		d.Log.Info().Int("alerts", n).Msg("alert outbox: delivering the alerts left undelivered at the last stop")
	}
	p.notifier = service.New(d.Log)
	if wd := p.notifier.Watchdog(); wd > 0 {
		d.Log.Info().Str("interval", wd.String()).Msg("systemd watchdog on: pinging it from the engine's loop")
	}
	if n := len(p.silences.Active()); n > 0 {
		d.Log.Info().Int("silences", n).Msg("silences in force")
	}
	return p, nil
}

// SilencesFile holds the silences set through the admin listener, in the
// state directory.
const SilencesFile = "silences.json"

func (d *Daemon) runOptions(ctx context.Context, eo engine.Options, p *parts) engine.RunOptions {
	return engine.RunOptions{
		Options:            eo,
		Sources:            d.Sources,
		StateDir:           d.Config.StateDir,
		CheckpointInterval: d.Config.CheckpointInterval,
		Warm:               d.Warm,
		Deliver:            holdBack(p.allow.holds, holdBack(p.silences.Holds, p.alerts.SendTracked)),
		WaitRecorded:       p.alerts.WaitRecorded,
		Ready: func() {
			d.Log.Info().Msg("ready: following sources")
			p.admin.SetReady(true)
			p.notifier.Ready()
			// Reloads wait until now: a RELOADING=1 ... READY=1 pair
			// while the state is still being restored would tell systemd
			// the start was over.
			p.reloading.Add(1)
			go d.reloads(ctx, p)
		},
		Status: func(st *engine.Status) {
			p.admin.Status(st)
			p.notifier.Status(st)
		},
		Retune:   p.retune,
		Evidence: EvidenceOptions(d.Config),
	}
}

// stop says so to systemd and the admin listener, and gives the sinks a
// bounded time to deliver what is queued.
func (d *Daemon) stop(p *parts) {
	close(p.done)
	p.reloading.Wait()
	p.admin.SetReady(false)
	p.notifier.Stopping()
	ctx, cancel := context.WithTimeout(context.Background(), drainFor)
	defer cancel()
	if err := p.alerts.Close(ctx); err != nil {
		d.Log.Warn().Err(err).Msg("alerts still being delivered at exit; those not delivered are kept in the outbox")
	}
	if err := p.outbox.Close(); err != nil {
		d.Log.Warn().Err(err).Msg("closing the alert outbox")
	}
	p.admin.Close(ctx)
}

// startAdmin starts the admin listener, or a stand-in that serves
// nothing when it is turned off.
func (d *Daemon) startAdmin(p *parts) (adminServer, error) {
	a := d.Config.Admin
	if !a.On() {
		return noAdmin{}, nil
	}
	srv, err := admin.Listen(admin.Options{Listen: a.Listen, Sinks: p.alerts.Stats, Allowlisted: p.allow.Skipped,
		Silences: p.silences, Version: Version, Logger: d.Log})
	if err != nil {
		return nil, err
	}
	d.Log.Info().Str("addr", srv.Addr()).Msg("admin listener: /metrics, /healthz, /readyz")
	return srv, nil
}

// adminServer is what the daemon tells the admin listener.
type adminServer interface {
	SetReady(bool)
	Status(*engine.Status)
	Reloaded(ok bool)
	Close(ctx context.Context) error
}

type noAdmin struct{}

func (noAdmin) SetReady(bool)               {}
func (noAdmin) Status(*engine.Status)       {}
func (noAdmin) Reloaded(bool)               {}
func (noAdmin) Close(context.Context) error { return nil }

// reloads re-reads the configuration on each request until done.
func (d *Daemon) reloads(ctx context.Context, p *parts) {
	defer p.reloading.Done()
	for {
		select {
		case <-d.Reload:
			p.notifier.Reloading()
			ok := d.reload(ctx, p)
			p.admin.Reloaded(ok)
			p.notifier.Ready()
		case <-p.done:
			return
		}
	}
}

// reload takes over what can change while running, or nothing: a new
// configuration with a mistake is rejected whole and the running one
// stays.
func (d *Daemon) reload(ctx context.Context, p *parts) bool {
	if d.ConfigPath == "" {
		d.Log.Warn().Msg("reload asked, but sentinel was started without --config: nothing to re-read")
		return false
	}
	load := d.Load
	if load == nil {
		load = config.Load
	}
	next, err := load(d.ConfigPath)
	if err == nil {
		err = next.SinkErrors()
	}
	if err == nil {
		err = d.takeOver(ctx, next, p)
	}
	if err != nil {
		d.Log.Error().Err(err).Str("config", d.ConfigPath).
			Msg("configuration reload rejected: the running configuration stays in force")
		return false
	}
	if fields := d.boot.NeedRestart(next); len(fields) > 0 {
		d.Log.Warn().Str("fields", strings.Join(fields, ", ")).
			Msg("configuration reload: these changes take effect at the next restart")
	}
	d.Log.Info().Str("config_hash", next.Hash()).Str("changed", strings.Join(d.Config.Changed(next), ", ")).
		Msg("configuration reloaded")
	d.Config = next
	return true
}

// takeOver builds the new sinks first, so that a sink that cannot be
// built leaves everything as it was, then hands the engine its new
// thresholds and labels.
func (d *Daemon) takeOver(ctx context.Context, next *config.Config, p *parts) error {
	if !reflect.DeepEqual(d.Config.Alerts, next.Alerts) {
		disp, err := Dispatcher(next, p.outbox, p.stdout, d.Log)
		if err != nil {
			return err
		}
		p.alerts.swap(disp, drainFor)
		d.Log.Info().Int("sinks", len(next.Alerts.Sinks)).Msg("alert sinks replaced")
	}
	p.allow.set(next.Allow)
	rt := engine.Retune{Labels: next.Labels, Detect: detectOptions(next.Detect), ConfigSHA256: next.SHA256(),
		Contracts: contracts(next.Contracts)}
	rt.Detect.Forest.Threshold = next.Detect.IForest.Threshold
	select {
	case p.retune <- rt:
	case <-p.done:
	case <-ctx.Done():
	}
	return nil
}

// lockedWriter serialises writes: during a sink change the old and the
// new stdout sinks may both be writing.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
