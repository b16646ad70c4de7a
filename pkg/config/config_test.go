package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDefaultsWorkWithoutFile(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Windows.Size != time.Minute || c.Alerts.Horizon != 15*time.Minute {
		t.Fatalf("unexpected defaults: window %v, horizon %v", c.Windows.Size, c.Alerts.Horizon)
	}
	if len(c.Alerts.Sinks) != 1 || c.Alerts.Sinks[0].Type != "stdout" {
		t.Fatalf("default sinks = %+v, want stdout only", c.Alerts.Sinks)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != "canonical" {
		t.Fatalf("format = %q, want canonical", c.Format)
	}
}

func TestMistakesNameTheField(t *testing.T) {
	cases := []struct {
		name, yaml, field, allowed string
	}{
		{"unknown key", "windoes:\n  size: 1m\n", "windoes (line 1)", "allowed keys are state_dir, checkpoint_interval, sources,"},
		{"unknown nested key", "windows:\n  sise: 1m\n", "windows.sise (line 2)", "allowed keys are size, lateness"},
		{"bad sink type", "alerts:\n  sinks:\n    - type: pager\n", "alerts.sinks[0].type", "stdout, file, webhook, slack, alertmanager"},
		{"file sink without path", "alerts:\n  sinks:\n    - type: file\n", "alerts.sinks[0].path", "path"},
		{"slack without url", "alerts:\n  sinks:\n    - type: slack\n", "alerts.sinks[0].url", "http"},
		{"window too long", "windows:\n  size: 2h\n", "windows.size", "1s to 1h"},
		{"bad format", "format: syslog\n", "format", "caddy"},
		{"empty source path", "sources:\n  - format: caddy\n", "sources[0].path", "glob"},
		{"negative z", "detect:\n  z: -1\n", "detect.z", "positive"},
		{"ratio below one", "detect:\n  ratio: 0.5\n", "detect.ratio", "1 or more"},
		{"forest threshold", "detect:\n  iforest:\n    threshold: 0.3\n", "detect.iforest.threshold", "from 0.5"},
		{"forest reservoir", "detect:\n  iforest:\n    reservoir: -5\n", "detect.iforest.reservoir", "up to 1000000"},
		{"forest retrain", "detect:\n  iforest:\n    retrain_every: -1h\n", "detect.iforest.retrain_every", "retrain: false"},
		{"forest unknown key", "detect:\n  iforest:\n    trees: 50\n", "detect.iforest.trees", "enabled, model, threshold"},
		{"log level", "log:\n  level: loud\n", "log.level", "debug, info"},
		{"bad duration", "windows:\n  size: soon\n", "soon", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.field) || !strings.Contains(msg, tc.allowed) {
				t.Fatalf("error %q does not name %q and %q", msg, tc.field, tc.allowed)
			}
		})
	}
}

func TestFieldErrorType(t *testing.T) {
	_, err := Parse([]byte("alerts:\n  sinks:\n    - type: pager\n"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "alerts.sinks[0].type" {
		t.Fatalf("got %v, want a FieldError for alerts.sinks[0].type", err)
	}
}

func TestSecretsFromEnvironment(t *testing.T) {
	const secret = "https://hooks.example.com/services/T000/B000/XXXXSECRET"
	t.Setenv("TEST_SLACK_URL", secret)
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: slack\n      url: ${TEST_SLACK_URL}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.Sinks[0].URL != secret {
		t.Fatalf("url not expanded: %q", c.Alerts.Sinks[0].URL)
	}
}

// An unset variable must not stop commands that use no sink (replay), but
// SinkErrors, which check and run call, must name the field and variable.
func TestMissingEnvironmentVariable(t *testing.T) {
	const secret = "Bearer s3cr3t-value"
	t.Setenv("SENTINEL_TEST_SET_VAR", secret)
	c, err := Parse([]byte(`alerts:
  sinks:
    - type: webhook
      url: ${SENTINEL_TEST_UNSET_VAR}
      headers:
        Authorization: ${SENTINEL_TEST_SET_VAR}
        X-Other: ${SENTINEL_TEST_UNSET_OTHER}
`))
	if err != nil {
		t.Fatalf("Parse failed on an unset sink variable: %v", err)
	}
	err = c.SinkErrors()
	if err == nil {
		t.Fatal("SinkErrors accepted an unset variable")
	}
	msg := err.Error()
	for _, want := range []string{
		"alerts.sinks[0].url (line 4)", "SENTINEL_TEST_UNSET_VAR",
		"alerts.sinks[0].headers.X-Other (line 7)", "SENTINEL_TEST_UNSET_OTHER",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("SinkErrors %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "SENTINEL_TEST_SET_VAR") {
		t.Errorf("SinkErrors %q mentions the variable that is set, or its value", msg)
	}
}

func TestEmptyEnvironmentVariableIsUnset(t *testing.T) {
	t.Setenv("SENTINEL_TEST_EMPTY_VAR", "")
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: slack\n      url: ${SENTINEL_TEST_EMPTY_VAR}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SinkErrors(); err == nil || !strings.Contains(err.Error(), "SENTINEL_TEST_EMPTY_VAR") {
		t.Fatalf("SinkErrors = %v, want the empty variable named", err)
	}
}

func TestSinkErrorsNilWhenAllSet(t *testing.T) {
	t.Setenv("SENTINEL_TEST_URL", "https://alerts.example.com/hook")
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: slack\n      url: ${SENTINEL_TEST_URL}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SinkErrors(); err != nil {
		t.Fatalf("SinkErrors = %v with every variable set", err)
	}
	if err := Default().SinkErrors(); err != nil {
		t.Fatalf("defaults: SinkErrors = %v", err)
	}
}

func TestInvalidURLIsNotPrinted(t *testing.T) {
	const secret = "hooks.example.com/services/T000/B000/XXXXSECRET"
	_, err := Parse([]byte("alerts:\n  sinks:\n    - type: slack\n      url: " + secret + "\n"))
	if err == nil {
		t.Fatal("accepted a URL without a scheme")
	}
	if strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("error reveals the URL: %v", err)
	}
}

func TestSourceOverridesPreset(t *testing.T) {
	c, err := Parse([]byte(`
sources:
  - path: /var/log/caddy/access.log
    format: caddy
    mapping:
      token: [request.headers.X-Custom-Key]
`))
	if err != nil {
		t.Fatal(err)
	}
	m, rules, err := c.Resolve(c.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Token) != 1 || m.Token[0] != "request.headers.X-Custom-Key" {
		t.Fatalf("token paths = %v, want the override", m.Token)
	}
	if len(m.IP) == 0 || len(m.Time.Paths) == 0 {
		t.Fatalf("override erased the preset's other fields: %+v", m)
	}
	if len(rules) == 0 {
		t.Fatal("no default pull rules for caddy")
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "sentinel.yaml")
	for _, v := range []string{"SENTINEL_SLACK_URL", "SENTINEL_WEBHOOK_URL"} {
		t.Setenv(v, "https://alerts.example.com/hook")
	}
	t.Setenv("SENTINEL_WEBHOOK_AUTH", "Bearer example")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("the shipped example does not load: %v", err)
	}
}

func TestNonFiniteNumbersAreRefused(t *testing.T) {
	for _, v := range []string{".nan", ".inf", "-.inf"} {
		_, err := Parse([]byte("detect:\n  ratio: " + v + "\n"))
		if err == nil || !strings.Contains(err.Error(), "detect.ratio") || !strings.Contains(err.Error(), "finite") {
			t.Errorf("ratio %s: got %v, want detect.ratio refused as not finite", v, err)
		}
	}
}

func TestWebhookSecretIsCheckedAndNeverPrinted(t *testing.T) {
	const short = "tooshort-SECRET"
	t.Setenv("TEST_SHORT_SECRET", short)
	for text, want := range map[string]string{
		"alerts:\n  sinks:\n    - type: webhook\n      url: https://hooks.example.test/x\n      secret: ${TEST_SHORT_SECRET}\n": "alerts.sinks[0].secret (line 5): is 15 characters: allowed is 16 or more",
		"alerts:\n  sinks:\n    - type: slack\n      url: https://hooks.example.test/x\n      secret: 0123456789abcdef0123\n":   "alerts.sinks[0].secret (line 5): is set on a slack sink: only webhook sinks are signed",
	} {
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), short) || strings.Contains(err.Error(), "0123456789abcdef")) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: webhook\n      url: https://hooks.example.test/x\n      secret: ${TEST_UNSET_SECRET}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SinkErrors(); err == nil || !strings.Contains(err.Error(), "TEST_UNSET_SECRET") {
		t.Errorf("an unset secret variable: %v, want it named by SinkErrors", err)
	}
}

func TestMinSeverityIsChecked(t *testing.T) {
	_, err := Parse([]byte("alerts:\n  sinks:\n    - type: stdout\n      min_severity: urgent\n"))
	if err == nil || !strings.Contains(err.Error(), "alerts.sinks[0].min_severity (line 4): \"urgent\" is not a severity: allowed are warning and critical") {
		t.Errorf("min_severity: urgent: %v", err)
	}
	if _, err := Parse([]byte("alerts:\n  sinks:\n    - type: stdout\n      min_severity: critical\n")); err != nil {
		t.Errorf("min_severity: critical refused: %v", err)
	}
}

func TestAllowIsCheckedAndNeverPrintsAToken(t *testing.T) {
	const raw = "tok_live_pastedByMistake1234567890"
	_, err := Parse([]byte("allow:\n  tokens:\n    - 3f9a1c0b2e4d\n    - " + raw + "\n  addresses:\n    - 203.0.113.0/24\n    - 203.0.113.0/33\n"))
	if err == nil {
		t.Fatal("a raw token and a bad range were accepted")
	}
	msg := err.Error()
	for _, want := range []string{"allow.tokens[1] (line 4)", "write its fingerprint", "allow.addresses[1] (line 7)", "is not an address or a CIDR range"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, raw) {
		t.Errorf("the error shows the raw token: %v", err)
	}
}

func TestSendResolvedDefaultsByType(t *testing.T) {
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: stdout\n    - type: slack\n      url: https://hooks.slack.example/x\n" +
		"    - type: webhook\n      url: https://hook.example/x\n      send_resolved: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true, true} {
		if got := c.Alerts.Sinks[i].Resolved(); got != want {
			t.Errorf("sink %d (%s) takes notices: %v, want %v", i, c.Alerts.Sinks[i].Type, got, want)
		}
	}
}

func TestAlertmanagerSinkIsChecked(t *testing.T) {
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: alertmanager\n      url: http://127.0.0.1:9093\n"))
	if err != nil {
		t.Fatalf("an alertmanager sink with a url refused: %v", err)
	}
	if got := c.Alerts.Sinks[0].Resend; got != time.Minute {
		t.Errorf("default resend = %v, want 1m", got)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"    - type: alertmanager\n      url: http://127.0.0.1:9093\n      resend: 0s\n",
			"alerts.sinks[0].resend (line 5): 0s: allowed is a duration of 1s or more"},
		{"    - type: alertmanager\n      url: http://127.0.0.1:9093\n      resend: -1m\n",
			"alerts.sinks[0].resend (line 5): -1m0s: allowed is a duration of 1s or more"},
		{"    - type: webhook\n      url: http://127.0.0.1:9093\n      resend: 1m\n",
			"alerts.sinks[0].resend (line 5): is set on a webhook sink: only alertmanager sinks re-send"},
		{"    - type: alertmanager\n",
			"alerts.sinks[0].url: is empty"},
		{"    - type: alertmanager\n      url: http://127.0.0.1:9093\n      secret: 0123456789abcdef\n",
			"alerts.sinks[0].secret (line 5): is set on a alertmanager sink"},
		{"    - type: alertmanager\n      url: http://127.0.0.1:9093\n      send_resolved: false\n",
			"alerts.sinks[0].send_resolved (line 5): is false on an alertmanager sink"},
	} {
		_, err := Parse([]byte("alerts:\n  sinks:\n" + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestGroupWaitIsForSlackOnly(t *testing.T) {
	c, err := Parse([]byte("alerts:\n  sinks:\n    - type: slack\n      url: https://hooks.slack.example/x\n    - type: slack\n      url: https://hooks.slack.example/y\n      group_wait: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Alerts.Sinks[0].Grouping(); got != DefaultGroupWait {
		t.Errorf("default group_wait %v, want %v", got, DefaultGroupWait)
	}
	if got := c.Alerts.Sinks[1].Grouping(); got != 0 {
		t.Errorf("group_wait 0s gave %v, want no grouping", got)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"    - type: webhook\n      url: https://hook.example/x\n      group_wait: 5s\n",
			"alerts.sinks[0].group_wait (line 5): is set on a webhook sink: only slack sinks group alerts"},
		{"    - type: slack\n      url: https://hooks.slack.example/x\n      group_wait: 1h\n",
			"alerts.sinks[0].group_wait (line 5): 1h0m0s is out of range"},
	} {
		_, err := Parse([]byte("alerts:\n  sinks:\n" + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestSinkKeyFollowsTheSinkNotItsPlace(t *testing.T) {
	a := Sink{Type: "webhook", URL: "https://a.example/hook/SECRET"}
	b := Sink{Type: "webhook", URL: "https://b.example/hook"}
	if a.Key() == b.Key() {
		t.Errorf("two webhooks share the key %s", a.Key())
	}
	if again := (Sink{Type: "webhook", URL: a.URL, Timeout: time.Minute}); again.Key() != a.Key() {
		t.Errorf("key changed with a setting that is not the destination: %s, %s", again.Key(), a.Key())
	}
	if strings.Contains(a.Key(), "SECRET") || !strings.HasPrefix(a.Key(), "webhook:") {
		t.Errorf("key %q: want the type and a digest, never the URL", a.Key())
	}
}

// Every mistake of one sink is reported in one run, not only the first.
func TestSinkMistakesAllReported(t *testing.T) {
	_, err := Parse([]byte("alerts:\n  sinks:\n    - type: webhook\n      url: ftp://x\n      resend: 1m\n      group_wait: 5s\n      min_severity: loud\n      name: a b\n" +
		"    - type: slack\n      name: ops\n      url: https://hooks.slack.example/x\n    - type: alertmanager\n      name: ops\n      url: http://127.0.0.1:9093\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"alerts.sinks[0].url", "alerts.sinks[0].resend", "alerts.sinks[0].group_wait",
		"alerts.sinks[0].min_severity", "alerts.sinks[0].name", "alerts.sinks[2].name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s not reported:\n%v", want, err)
		}
	}
	if a, b := (Sink{Type: "webhook", Name: "ops", URL: "https://a"}), (Sink{Type: "webhook", Name: "ops", URL: "https://b"}); a.Key() != b.Key() {
		t.Errorf("a named sink's key changed with its URL: %s, %s", a.Key(), b.Key())
	}
}
