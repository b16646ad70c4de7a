package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// daemon is a `sentinel run` started under a notify socket the test owns,
// as systemd would start it, with its log lines kept as they come.
type daemon struct {
	cmd    *exec.Cmd
	notify chan string // datagrams received on the notify socket
	mu     sync.Mutex
	logs   []string
}

func startDaemon(t testing.TB, dir string, env []string, args ...string) *daemon {
	t.Helper()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d := &daemon{cmd: exec.Command(binary, args...), notify: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			d.notify <- string(buf[:n])
		}
	}()
	d.cmd.Env = append(os.Environ(), append(env, "NOTIFY_SOCKET="+sock)...)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go d.readLogs(stderr)
	t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait() })
	return d
}

func (d *daemon) readLogs(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		d.mu.Lock()
		d.logs = append(d.logs, sc.Text())
		d.mu.Unlock()
	}
}

// logWith returns the first log line whose message is msg, decoded.
func (d *daemon) logWith(msg string) map[string]any {
	i := d.logIndex(msg)
	if i < 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var m map[string]any
	json.Unmarshal([]byte(d.logs[i]), &m)
	return m
}

// waitLog waits for a log line whose message is msg: the log is read from
// a pipe, so a line written before a notify message may be read after it.
func (d *daemon) waitLog(t testing.TB, msg string) map[string]any {
	t.Helper()
	eventually(t, 30*time.Second, "the log line "+msg, func() bool { return d.logWith(msg) != nil })
	return d.logWith(msg)
}

// logIndex returns the position of the first log line whose message is
// msg, or -1.
func (d *daemon) logIndex(msg string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, l := range d.logs {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == msg {
			return i
		}
	}
	return -1
}

func (d *daemon) allLogs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.logs, "\n")
}

// await reads notify messages until one holds want, and returns it and
// those before it.
func (d *daemon) await(t *testing.T, want string) (string, []string) {
	t.Helper()
	var before []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-d.notify:
			if strings.Contains(m, want) {
				return m, before
			}
			before = append(before, m)
		case <-timeout:
			t.Fatalf("no %q on the notify socket within 60s; got %q; log:\n%s", want, before, d.allLogs())
		}
	}
}

// scrape fetches /metrics, has promtool check it, and parses it.
func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	promtool := exec.Command("promtool", "check", "metrics")
	promtool.Stdin = strings.NewReader(string(body))
	if out, err := promtool.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// value returns the value of the sample of family name whose labels
// include those given ("k=v"), or -1.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if hasLabels(m, labels) {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.Label {
		have[l.GetName()] = l.GetValue()
	}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		if have[k] != v {
			return false
		}
	}
	return true
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServiceUnderSystemdNotifyReloadAndMetrics runs the daemon as
// systemd would: it must say READY only once following, ping the
// watchdog, show its rate, take over a good configuration on SIGHUP and
// keep the old one on a bad one, serve metrics that promtool accepts and
// that count what it read, and say STOPPING on SIGTERM.
func TestServiceUnderSystemdNotifyReloadAndMetrics(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	logPath := filepath.Join(dir, "access.log")
	f, _ := os.Create(logPath)
	// The second token's baseline is written with the first's; its burst
	// comes after the reload.
	const secondToken, secondIP = "tok_live_secondTOKENbbbb2222", "198.51.100.20"
	start := now.Add(-125 * time.Minute)
	good := writeLines(f,
		steadyLines("tok_live_firstTOKENaaaa1111", "203.0.113.9", start, 120),
		burstLines("tok_live_firstTOKENaaaa1111", "203.0.113.9", start.Add(120*time.Minute)),
		steadyLines(secondToken, secondIP, start, 122))
	fmt.Fprintln(f, "this is not json")
	fmt.Fprintln(f, `{"ts": "not a time"}`)
	f.Close()
	firstLines := float64(good + 2)

	first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")
	cfg := filepath.Join(dir, "sentinel.yaml")
	base := fmt.Sprintf("state_dir: %s\ncheckpoint_interval: 1s\nsources:\n  - path: %s\nlog:\n  format: json\nadmin:\n  listen: 127.0.0.1:0\n",
		filepath.Join(dir, "state"), logPath)
	writeConfig(t, cfg, base+fmt.Sprintf("alerts:\n  sinks:\n    - type: file\n      path: %s\n", first))

	d := startDaemon(t, dir, []string{"WATCHDOG_USEC=4000000"}, "run", "--config", cfg)
	ready, _ := d.await(t, "READY=1")
	// READY=1 follows this line, which the loop logs once the state is
	// restored and the sources are started.
	d.waitLog(t, "ready: following sources")
	if d.logIndex("ready: following sources") < d.logIndex("no checkpoint: reading sources from their beginning") {
		t.Error("ready before the state was restored")
	}
	if !strings.Contains(ready, "STATUS=") {
		t.Errorf("READY=1 came without a status line: %q", ready)
	}
	adminLine := d.waitLog(t, "admin listener: /metrics, /healthz, /readyz")
	addr := adminLine["addr"].(string)
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d after READY=1, want 200", code)
	}
	for range 2 {
		ping, _ := d.await(t, "WATCHDOG=1")
		if !strings.Contains(ping, "lines/s") || !strings.Contains(ping, "tokens") {
			t.Errorf("watchdog ping without the rate and entities in STATUS: %q", ping)
		}
	}

	var m map[string]*dto.MetricFamily
	eventually(t, 60*time.Second, "the metrics to count every line and the alert", func() bool {
		m = scrape(t, addr)
		return value(m, "sentinel_lines_read_total", "source="+logPath) == firstLines &&
			value(m, "sentinel_alerts_delivered_total", "sink=file:"+first) >= 1
	})
	if got := value(m, "sentinel_lines_parsed_total", "source="+logPath); got != firstLines-2 {
		t.Errorf("lines parsed = %v, want %v", got, firstLines-2)
	}
	rejected := value(m, "sentinel_lines_rejected_total", "source="+logPath, "reason=json") +
		value(m, "sentinel_lines_rejected_total", "source="+logPath, "reason=time")
	if rejected != 2 {
		t.Errorf("lines rejected (json + time) = %v, want 2; families: %v", rejected, m["sentinel_lines_rejected_total"])
	}
	if got := value(m, "sentinel_entities", "kind=token"); got != 2 {
		t.Errorf("tokens tracked = %v, want 2", got)
	}
	if got := value(m, "sentinel_file_bytes_behind", "path="+logPath); got != 0 {
		t.Errorf("bytes behind = %v once everything is read, want 0", got)
	}
	eventually(t, 30*time.Second, "a checkpoint in the metrics", func() bool {
		m = scrape(t, addr)
		return value(m, "sentinel_checkpoint_bytes") > 0
	})
	if fi, err := os.Stat(filepath.Join(dir, "state", "checkpoint")); err != nil || fi.Size() < int64(value(m, "sentinel_checkpoint_bytes"))/2 {
		t.Errorf("checkpoint file %v (%v) against sentinel_checkpoint_bytes %v", fi, err, value(m, "sentinel_checkpoint_bytes"))
	}
	raised := value(m, "sentinel_alerts_raised_total")
	if raised < 1 {
		t.Errorf("alerts raised = %v, want at least 1", raised)
	}

	// A bad configuration is refused whole; the daemon goes on.
	writeConfig(t, cfg, base+"detect:\n  z: -3\nalerts:\n  sinks:\n    - type: file\n      path: "+second+"\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.await(t, "RELOADING=1")
	d.await(t, "READY=1")
	rejectedLine := d.waitLog(t, "configuration reload rejected: the running configuration stays in force")
	if !strings.Contains(fmt.Sprint(rejectedLine["error"]), "detect.z") {
		t.Fatalf("the bad reload was not logged with the field at fault: %v\n%s", rejectedLine, d.allLogs())
	}
	m = scrape(t, addr)
	if value(m, "sentinel_config_last_reload_successful") != 0 || value(m, "sentinel_config_reloads_total", "result=failure") != 1 {
		t.Error("the rejected reload is not in the metrics")
	}

	// A good one is taken over: new sinks and labels; a window size
	// cannot change under learned state and waits for a restart.
	fp := fingerprintOf(secondToken)
	writeConfig(t, cfg, base+fmt.Sprintf("windows:\n  size: 2m\nlabels:\n  %s: acme\nalerts:\n  sinks:\n    - type: file\n      path: %s\n", fp, second))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.await(t, "RELOADING=1")
	d.await(t, "READY=1")
	d.waitLog(t, "configuration reloaded")
	if w := d.waitLog(t, "configuration reload: these changes take effect at the next restart"); w["fields"] != "windows" {
		t.Errorf("the restart-only change was not named: %v", w)
	}
	f, _ = os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	writeLines(f, burstLines(secondToken, secondIP, start.Add(124*time.Minute)))
	f.Close()
	eventually(t, 60*time.Second, "the second token's alert in the new sink", func() bool {
		data, _ := os.ReadFile(second)
		return strings.Contains(string(data), fp)
	})
	data, _ := os.ReadFile(second)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a struct{ Key, Label string }
		json.Unmarshal([]byte(line), &a)
		if a.Key == fp && a.Label != "acme" {
			t.Errorf("the reloaded label is not on the alert: %s", line)
		}
	}
	old, _ := os.ReadFile(first)
	if strings.Contains(string(old), fp) {
		t.Error("an alert raised after the reload went to the old sink")
	}
	// Learned state survives the reload: both tokens are still known.
	eventually(t, 30*time.Second, "both tokens tracked after the reload", func() bool {
		return value(scrape(t, addr), "sentinel_entities", "kind=token") == 2
	})

	d.cmd.Process.Signal(syscall.SIGTERM)
	d.await(t, "STOPPING=1")
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("sentinel exited with %v after SIGTERM:\n%s", err, d.allLogs())
	}
}
