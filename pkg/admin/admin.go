// Package admin serves sentinel's local admin listener: Prometheus
// metrics on /metrics, liveness on /healthz, readiness on /readyz, and
// the silences an operator sets on /silences. It reads what the engine
// and the alert sinks count; silences are all it changes.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/silence"
)

// Options configures a Server.
type Options struct {
	// Listen is host:port; port 0 takes a free port (see Server.Addr).
	Listen string
	// Sinks returns the alert sinks' counts at scrape time.
	Sinks func() map[string]alert.SinkStats
	// Allowlisted returns how many alerts the allowlist held back.
	Allowlisted func() int64
	// Silences, when set, is served on /silences and its counts exported.
	Silences *silence.Store
	// Version is exported as sentinel_build_info.
	Version string
	// Stale is how long the engine may go without reporting before
	// /healthz fails; default DefaultStale.
	Stale  time.Duration
	Logger zerolog.Logger
	// Now is the wall clock; time.Now when nil.
	Now func() time.Time
}

// DefaultStale is how long the engine's loop may be silent before it is
// taken for wedged. It reports every second; a checkpoint or a long batch
// can hold it up for a few.
const DefaultStale = 30 * time.Second

// Server is the admin listener.
type Server struct {
	opts  Options
	col   *collector
	ln    net.Listener
	srv   *http.Server
	ready atomic.Bool
	beat  atomic.Int64 // wall clock of the engine's last report, Unix ns
	done  chan struct{}
}

// Listen binds the listener and starts serving. It fails at once when
// the address cannot be bound, so a daemon does not start half blind.
func Listen(o Options) (*Server, error) {
	if o.Stale <= 0 {
		o.Stale = DefaultStale
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listener: listening on %s: %w", o.Listen, err)
	}
	s := &Server{opts: o, ln: ln, done: make(chan struct{}),
		col: &collector{sinks: o.Sinks, allowlisted: o.Allowlisted, silences: o.Silences}}
	s.col.reload.lastOK = true
	s.col.reload.lastSuccess = o.Now()
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go s.serve()
	return s, nil
}

func (s *Server) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		s.col,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(s.opts.Version),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	s.silenceRoutes(mux)
	return mux
}

func buildInfo(version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sentinel_build_info",
		Help:        "Always 1; the version sentinel was built as is a label.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return g
}

func (s *Server) serve() {
	defer close(s.done)
	err := s.srv.Serve(s.ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.opts.Logger.Error().Err(err).Str("addr", s.Addr()).Msg("admin listener stopped")
	}
}

// Addr is the address listened on, with the port chosen when 0 was asked.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the listener, waiting up to ctx for requests in progress.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Status records the engine's latest counts; each call is also the
// heartbeat /healthz watches.
func (s *Server) Status(st *engine.Status) {
	s.col.mu.Lock()
	s.col.status = st
	s.col.mu.Unlock()
	s.beat.Store(s.opts.Now().UnixNano())
}

// SetReady says whether sentinel is ready: state restored, sources open,
// not stopping.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Reloaded records a configuration reload's outcome.
func (s *Server) Reloaded(ok bool) {
	s.col.mu.Lock()
	defer s.col.mu.Unlock()
	s.col.reload.lastOK = ok
	if !ok {
		s.col.reload.failed++
		return
	}
	s.col.reload.ok++
	s.col.reload.lastSuccess = s.opts.Now()
}

// healthz fails when the engine's loop has not reported for Stale: the
// process answers, but does no work.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	last := s.beat.Load()
	if last == 0 {
		fmt.Fprintln(w, "ok: starting")
		return
	}
	since := s.opts.Now().Sub(time.Unix(0, last))
	if since > s.opts.Stale {
		http.Error(w, fmt.Sprintf("unhealthy: the engine has not reported for %v", since.Round(time.Second)), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready: restoring state or opening sources", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
