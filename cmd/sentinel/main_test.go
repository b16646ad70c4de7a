package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/internal/testwait"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// binary is the sentinel binary built once for these tests, so that they
// exercise the real process: flags, signals, exit codes, files.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sentinel-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sentinel")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sentinel:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sentinel runs the binary to completion and returns stdout, stderr and
// the exit code.
func sentinel(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// alertLine is the part of an alert these tests look at.
type alertLine struct {
	ID       string  `json:"id"`
	Entity   string  `json:"entity"`
	Key      string  `json:"key"`
	Detector string  `json:"detector"`
	Feature  string  `json:"feature"`
	Observed float64 `json:"observed"`
	Expected float64 `json:"expected"`
	At       string  `json:"at"`
}

func parseAlerts(t *testing.T, data string) []alertLine {
	t.Helper()
	var out []alertLine
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var a alertLine
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, a)
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, within, what, cond)
}

func TestFingerprintReadsStdin(t *testing.T) {
	out, _, code := sentinel(t, "tok_test_9f2c41aa0b7e\n", "fingerprint")
	// printf tok_test_9f2c41aa0b7e | sha256sum | cut -c1-12
	if code != 0 || out != "f15a6be05bb5 (hint …0b7e)\n" {
		t.Fatalf("fingerprint printed %q (exit %d)", out, code)
	}
	if strings.Contains(out, "tok_test_9f2c41aa0b7e") {
		t.Fatal("fingerprint echoed the token")
	}
}

// TestFingerprintMatchesParser checks that the fingerprint command
// normalises a token as the parser does, so the fingerprint it prints is
// the one alerts carry for the same Authorization value.
func TestFingerprintMatchesParser(t *testing.T) {
	p, err := ingest.NewParser(mustPreset(t, "canonical"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ stdin, token, want string }{
		// The parser drops "bearer " in any case and trims what follows.
		{"bearer  tok_x  \n", "bearer  tok_x  ", fingerprintOf("tok_x")},
		{"BEARER tok_x\r\n", "BEARER tok_x", fingerprintOf("tok_x")},
		{"Bearer tok_x", "Bearer tok_x", fingerprintOf("tok_x")},
		// Without the scheme the credential is taken exactly as logged.
		{"tok_x \n", "tok_x ", fingerprintOf("tok_x ")},
	}
	for _, tc := range cases {
		line := fmt.Sprintf(`{"ts":"2026-03-01T00:00:00Z","token":%q,"ip":"127.0.0.1","method":"GET","path":"/m","status":200}`, tc.token)
		var rec ingest.Record
		if err := p.Parse([]byte(line), &rec); err != nil {
			t.Fatalf("parsing %s: %v", line, err)
		}
		out, _, code := sentinel(t, tc.stdin, "fingerprint")
		got, _, _ := strings.Cut(strings.TrimSpace(out), " ")
		if code != 0 || got != rec.Cred.FP || got != tc.want {
			t.Errorf("stdin %q: command printed %q (exit %d), parser gives %s, want %s",
				tc.stdin, out, code, rec.Cred.FP, tc.want)
		}
	}
}

func mustPreset(t *testing.T, name string) ingest.Mapping {
	t.Helper()
	m, err := ingest.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckNamesTheWrongField(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("alerts:\n  sinks:\n    - type: pager\n"), 0o600)
	_, stderr, code := sentinel(t, "", "check", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "alerts.sinks[0].type") || !strings.Contains(stderr, "slack") {
		t.Fatalf("check exit %d, stderr %q: want exit 1 naming the field and the allowed types", code, stderr)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("windows:\n  size: 2m\n"), 0o600)
	out, stderr, code := sentinel(t, "", "check", "--config", good)
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("check on a good file: exit %d, %q %q", code, out, stderr)
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	_, stderr, code := sentinel(t, "", "frobnicate")
	if code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// jsonUnmarshalTS reads the "ts" field of a canonical line.
func jsonUnmarshalTS(line []byte, ts *time.Time) error {
	var v struct {
		TS time.Time `json:"ts"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return err
	}
	*ts = v.TS
	return nil
}

func TestGenerateSaysWhatItNeeds(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.log")
	_, stderr, code := sentinel(t, "", "generate", "-tokens", "20", "-out", out)
	if code != 2 || !strings.Contains(stderr, "at least 40") {
		t.Fatalf("exit %d, stderr %q: want a usage error naming the minimum", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a failed generate left its output file behind")
	}
	gz := filepath.Join(dir, "x.log.gz")
	if _, stderr, code := sentinel(t, "", "generate", "-tokens", "40", "-days", "4", "-out", gz); code != 0 {
		t.Fatalf("generate failed: %s", stderr)
	}
	data, _ := os.ReadFile(gz)
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatal("-out x.gz did not write gzip")
	}
}
