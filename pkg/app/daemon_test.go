package app

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/pkg/config"
)

// TestReloadDuringStopFinishesFirst: a reload that is still running when
// the daemon stops must end before STOPPING=1 and before the sinks
// close, so systemd never hears READY after STOPPING and the sinks the
// reload built are closed, not leaked.
func TestReloadDuringStopFinishesFirst(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)

	logPath := filepath.Join(dir, "access.log")
	os.WriteFile(logPath, nil, 0o644)
	cfgPath := filepath.Join(dir, "sentinel.yaml")
	base := "state_dir: " + filepath.Join(dir, "state") + "\nadmin: {enabled: false}\nsources:\n  - path: " + logPath + "\n"
	os.WriteFile(cfgPath, []byte(base), 0o644)
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sources, err := Sources(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{}, 1)
	reload <- struct{}{} // taken once the daemon is ready
	d := &Daemon{
		ConfigPath: cfgPath, Config: c, Sources: sources, Stdout: io.Discard, Log: zerolog.Nop(), Reload: reload,
	}
	// The stop begins while the reload reads its file; the new file asks
	// for another sink, so the reload builds one. Had the stop not waited
	// for the reload, it would close the sinks meanwhile: the reload
	// gives it two seconds to, and a daemon that waits lets them pass.
	d.Load = func(string) (*config.Config, error) {
		cancel()
		for deadline := time.Now().Add(2 * time.Second); !d.running.alerts.isClosed() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // polling a condition, not synchronising on time
		}
		return config.Parse([]byte(base + "alerts:\n  sinks:\n    - type: file\n      path: " + filepath.Join(dir, "alerts.jsonl") + "\n"))
	}
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 4096)
	for !strings.HasPrefix(last(got), "STOPPING=1") {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notify messages %q, then %v", got, err)
		}
		if first := strings.SplitN(string(buf[:n]), "\n", 2)[0]; !strings.HasPrefix(first, "STATUS=") {
			got = append(got, first) // status lines alone say nothing of the order
		}
	}
	want := []string{"READY=1", "RELOADING=1", "READY=1", "STOPPING=1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("notify messages %q, want %q", got, want)
	}
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func (a *alerter) isClosed() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.closed
}
