package service

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/engine"
)

// listen opens a notify socket as systemd would and points the process's
// environment at it.
func listen(t *testing.T, watchdog string) *net.UnixConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", watchdog)
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("reading the notify socket: %v", err)
	}
	return string(buf[:n])
}

// TestWatchdogPingsAtHalfItsInterval: reports come every second; with a
// 4 s watchdog, a ping goes out every 2 s of reports, carrying the rate
// of lines read over the last report.
func TestWatchdogPingsAtHalfItsInterval(t *testing.T) {
	conn := listen(t, "4000000")
	n := New(zerolog.Nop())
	if n.Watchdog() != 4*time.Second {
		t.Fatalf("watchdog interval %v, want 4s from WATCHDOG_USEC", n.Watchdog())
	}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var pings []string
	for s := range 7 {
		n.Status(&engine.Status{
			At:      t0.Add(time.Duration(s) * time.Second),
			Sources: map[string]engine.SourceStats{"a": {Lines: int64(s) * 500}},
			Tokens:  3,
		})
	}
	n.Ready()
	for {
		m := receive(t, conn)
		if strings.Contains(m, "READY=1") {
			break
		}
		pings = append(pings, m)
	}
	// At 0 s, 2 s, 4 s and 6 s.
	if len(pings) != 4 {
		t.Fatalf("%d pings over 6 s of reports, want 4: %q", len(pings), pings)
	}
	if !strings.HasPrefix(pings[0], "WATCHDOG=1\n") || !strings.Contains(pings[3], "STATUS=500 lines/s, 3 tokens") {
		t.Errorf("pings %q: want WATCHDOG=1 and the status with 500 lines/s", pings)
	}
}

// TestNoWatchdogStillShowsStatus: without a watchdog, the status line is
// refreshed every 5 s and no ping is sent.
func TestNoWatchdogStillShowsStatus(t *testing.T) {
	conn := listen(t, "")
	n := New(zerolog.Nop())
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for s := range 11 {
		n.Status(&engine.Status{At: t0.Add(time.Duration(s) * time.Second)})
	}
	n.Stopping()
	var got []string
	for {
		m := receive(t, conn)
		if strings.Contains(m, "STOPPING=1") {
			break
		}
		got = append(got, m)
	}
	if len(got) != 3 || strings.Contains(strings.Join(got, ""), "WATCHDOG") {
		t.Errorf("messages %q over 10 s without a watchdog: want 3 status lines, no ping", got)
	}
}
