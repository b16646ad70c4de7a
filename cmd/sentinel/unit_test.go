package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies has systemd-analyze check the shipped unit. It
// fails rather than skips without systemd-analyze (scripts/test installs
// it): an unchecked unit is how a hardening option with a typo ships.
// systemd-analyze exits 0 on unknown keys and bad values, only printing
// them, so any output is a failure.
func TestSystemdUnitVerifies(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing: install Debian's systemd package (scripts/test does)")
	}
	unit, err := os.ReadFile("../../deploy/sentinel.service")
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecReload=", "DynamicUser=yes", "MemoryMax=", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	// The unit names the installed path; verify checks that the binary
	// exists, so point it at the one these tests built.
	text = strings.ReplaceAll(text, "/usr/local/bin/sentinel", binary)
	path := filepath.Join(t.TempDir(), "sentinel.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestPrometheusRulesFire has promtool check the shipped alerting rules
// and run their unit tests (testdata/prometheus/rules_test.yml): each
// rule fires on the symptom it names and not before.
func TestPrometheusRulesFire(t *testing.T) {
	tool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: install Debian's prometheus package (scripts/test does)")
	}
	check := exec.Command(tool, "check", "rules", "../../deploy/sentinel-rules.yml")
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	test := exec.Command(tool, "test", "rules", "rules_test.yml")
	test.Dir = "../../testdata/prometheus"
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
