// Package service tells the service manager (systemd) how sentinel is
// doing, through the notify socket it names in NOTIFY_SOCKET: ready once
// state is restored and sources are open, watchdog pings while the
// engine's loop turns, a status line, reloading and stopping. Outside
// systemd every call does nothing.
package service

import (
	"fmt"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/engine"
)

// Notifier sends sentinel's state to the service manager. It is safe for
// concurrent use: the engine's loop reports, the reload goroutine and the
// main one change the state.
type Notifier struct {
	mu  sync.Mutex
	log zerolog.Logger
	// watchdog is the interval at which systemd expects pings; 0 when
	// the watchdog is off.
	watchdog time.Duration
	lastPing time.Time
	last     *engine.Status // the previous report, for rates
	rate     float64        // lines per second over the last report
	failed   bool           // a send failed; said once
}

// statusEvery is how often the status line is refreshed when the
// watchdog does not ask for more.
const statusEvery = 5 * time.Second

// New reads the watchdog interval systemd set, if any.
func New(log zerolog.Logger) *Notifier {
	n := &Notifier{log: log}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn().Err(err).Msg("systemd watchdog settings unreadable: not pinging it")
	}
	n.watchdog = wd
	return n
}

// Watchdog returns the interval systemd expects pings at, 0 when off.
func (n *Notifier) Watchdog() time.Duration { return n.watchdog }

// Ready says that state is restored and the sources are open.
func (n *Notifier) Ready() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.send(daemon.SdNotifyReady + "\n" + statusLine(n.last, 0))
}

// Reloading says a configuration reload has begun; Ready ends it.
func (n *Notifier) Reloading() {
	n.mu.Lock()
	defer n.mu.Unlock()
	// MONOTONIC_USEC lets systemd (253 and later) match this message to
	// the reload it asked for.
	n.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", daemon.SdNotifyReloading, monotonicUsec()))
}

// Stopping says sentinel is saving its state to exit.
func (n *Notifier) Stopping() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.send(daemon.SdNotifyStopping + "\nSTATUS=stopping: saving state")
}

// Status is called with each report of the engine's loop. It pings the
// watchdog at half its interval, so one late report is not fatal, and
// refreshes the status line; a loop that stops reporting stops the pings.
func (n *Notifier) Status(st *engine.Status) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.last != nil {
		if dt := st.At.Sub(n.last.At).Seconds(); dt > 0 {
			n.rate = float64(lines(st)-lines(n.last)) / dt
		}
	}
	n.last = st
	due := statusEvery
	if n.watchdog > 0 {
		due = min(due, n.watchdog/2)
	}
	if st.At.Sub(n.lastPing) < due {
		return
	}
	n.lastPing = st.At
	msg := statusLine(st, n.rate)
	if n.watchdog > 0 {
		msg = daemon.SdNotifyWatchdog + "\n" + msg
	}
	n.send(msg)
}

func lines(st *engine.Status) int64 {
	var n int64
	for _, src := range st.Sources {
		n += src.Lines
	}
	return n
}

// statusLine is what `systemctl status` shows.
func statusLine(st *engine.Status, rate float64) string {
	if st == nil {
		return "STATUS=following sources"
	}
	return fmt.Sprintf("STATUS=%.0f lines/s, %d tokens and %d addresses tracked, %d alerts since start",
		rate, st.Tokens, st.Addresses, st.Alerts)
}

func (n *Notifier) send(state string) {
	_, err := daemon.SdNotify(false, state)
	if err != nil && !n.failed {
		n.failed = true
		n.log.Warn().Err(err).Msg("systemd notify socket unusable: readiness and watchdog pings are not reaching systemd")
	}
}
