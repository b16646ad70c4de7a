package app

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sentinel-project/sentinel/models"
	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/outbox"
)

func TestDetectOptionsKeepDefaultsForUnsetFields(t *testing.T) {
	c, err := config.Parse([]byte("detect:\n  min_messages: 800\n  slow_window: 1h\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := detectOptions(c.Detect)
	def := detect.DefaultOptions()
	if got.MinAbs[features.Token][features.Messages] != 800 || got.Horizon != time.Hour {
		t.Fatalf("set fields not applied: min %v, horizon %v", got.MinAbs[features.Token][features.Messages], got.Horizon)
	}
	// Setting one floor must not zero the token's other floors, which
	// would silence those features.
	if got.MinAbs[features.Token][features.Bytes] != def.MinAbs[features.Token][features.Bytes] ||
		got.MinAbs[features.IP] != def.MinAbs[features.IP] || got.Z != def.Z || got.Cooldown != def.Cooldown {
		t.Fatalf("unset fields lost their defaults: %+v", got)
	}
}

func TestNoveltySettingsReachTheDetector(t *testing.T) {
	c, err := config.Parse([]byte("detect:\n  novelty:\n    enabled: false\n    after: 72h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := detectOptions(c.Detect).Novelty; !got.Off || got.After != 72*time.Hour {
		t.Fatalf("novelty options %+v, want off after 72h", got)
	}
	c, err = config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := detectOptions(c.Detect).Novelty; got.Off {
		t.Fatal("the novelty detector is off by default")
	}
	if _, err := config.Parse([]byte("detect:\n  novelty:\n    after: -1h\n")); err == nil ||
		!strings.Contains(err.Error(), "detect.novelty.after") {
		t.Fatalf("a negative novelty.after: %v, want an error naming the field", err)
	}
}

func TestBudgetSettingReachesTheDetector(t *testing.T) {
	c, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if detectOptions(c.Detect).BudgetOn {
		t.Fatal("the budget detector is on by default")
	}
	c, err = config.Parse([]byte("detect:\n  budget:\n    enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !detectOptions(c.Detect).BudgetOn {
		t.Fatal("detect.budget.enabled: true left the budget detector off")
	}
	if _, err := config.Parse([]byte("detect:\n  budget:\n    enabled: often\n")); err == nil ||
		!strings.Contains(err.Error(), "detect.budget.enabled") {
		t.Fatalf("enabled: often: %v, want an error naming detect.budget.enabled", err)
	}
	if _, err := config.Parse([]byte("detect:\n  budget:\n    enable: true\n")); err == nil ||
		!strings.Contains(err.Error(), "detect.budget.enable") {
		t.Fatalf("a misspelt key: %v, want an error naming it", err)
	}
}

func TestSourcesFromArgsOrConfig(t *testing.T) {
	c, err := config.Parse([]byte("sources:\n  - path: /var/log/a.log\n    format: caddy\n"))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources(c, nil)
	if err != nil || len(srcs) != 1 || srcs[0].Paths[0] != "/var/log/a.log" || len(srcs[0].Format.Mapping.Token) == 0 {
		t.Fatalf("config sources = %+v, %v", srcs, err)
	}
	srcs, err = Sources(c, []string{"x.log", "y.log"})
	if err != nil || len(srcs) != 1 || len(srcs[0].Paths) != 2 {
		t.Fatalf("argument sources = %+v, %v", srcs, err)
	}
	if _, err := Sources(config.Default(), nil); err == nil {
		t.Fatal("no sources anywhere was accepted")
	}
}

func TestDispatcherRefusesUnsetSecret(t *testing.T) {
	c, err := config.Parse([]byte("alerts:\n  sinks:\n    - type: webhook\n      url: ${SENTINEL_TEST_NEVER_SET}\n"))
	if err != nil {
		t.Fatalf("parsing must not need the variable (replay never uses sinks): %v", err)
	}
	_, err = Dispatcher(c, nil, io.Discard, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "SENTINEL_TEST_NEVER_SET") || !strings.Contains(err.Error(), "alerts.sinks[0].url") {
		t.Fatalf("got %v, want the field and the unset variable named", err)
	}
}

func TestCommandLinePathsTakeTheirSourcesFormat(t *testing.T) {
	c, err := config.Parse([]byte(`
sources:
  - path: /var/log/caddy/access.log
    format: caddy
  - path: /var/log/traefik/*.json
    format: traefik
`))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := Sources(c, []string{"/var/log/caddy/access.log.2.gz", "/var/log/traefik/a.json", "/tmp/copy/access.log.1", "/tmp/other.log"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // path: a header only that format's token mapping names
		"/var/log/caddy/access.log.2.gz": "request.headers.X-Api-Key",
		"/var/log/traefik/a.json":        "request_X-Api-Key",
		"/tmp/copy/access.log.1":         "request.headers.X-Api-Key",
		"/tmp/other.log":                 "token",
	}
	for _, s := range srcs {
		for _, p := range s.Paths {
			if !slices.Contains(s.Format.Mapping.Token, want[p]) {
				t.Errorf("%s read with token paths %v, want one with %s", p, s.Format.Mapping.Token, want[p])
			}
		}
	}
}

func TestForestModelChoice(t *testing.T) {
	dir := t.TempDir()
	c, err := config.Parse([]byte("state_dir: " + dir + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, src, err := forestOptions(c)
	if err != nil || src != BuiltIn || o.Model == nil {
		t.Fatalf("without a trained model: %v, %q, %v; want the built-in one", err, src, o.Model)
	}
	if o.RetrainEvery != 24*time.Hour || o.Reservoir != 20000 {
		t.Errorf("retraining every %v on %d windows; want the defaults", o.RetrainEvery, o.Reservoir)
	}

	// A model train left in the state directory wins over the built-in.
	if err := os.WriteFile(filepath.Join(dir, config.ModelFile), models.IForest, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, src, err := forestOptions(c); err != nil || src != ModelSource(filepath.Join(dir, config.ModelFile)) {
		t.Fatalf("with a trained model: %q, %v", src, err)
	}
	// A damaged one is an error, not a silent fallback.
	if err := os.WriteFile(filepath.Join(dir, config.ModelFile), []byte("not a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := forestOptions(c); err == nil || !strings.Contains(err.Error(), config.ModelFile) {
		t.Fatalf("a damaged model in the state directory: %v", err)
	}

	c, err = config.Parse([]byte("detect:\n  iforest:\n    model: " + filepath.Join(dir, "missing.model") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := forestOptions(c); err == nil || !strings.Contains(err.Error(), "detect.iforest.model") {
		t.Fatalf("a configured model that is missing: %v; want the field named", err)
	}

	c, err = config.Parse([]byte("detect:\n  iforest:\n    enabled: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o, _, err := forestOptions(c); err != nil || o.Model != nil || o.Reservoir != 0 {
		t.Fatalf("disabled: %+v, %v", o, err)
	}
}

func TestAlertmanagerSinkIsAPushSink(t *testing.T) {
	c, err := config.Parse([]byte("alerts:\n  sinks:\n    - type: alertmanager\n      url: http://127.0.0.1:9093\n      resend: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := sink(c.Alerts.Sinks[0], io.Discard, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	am, ok := spec.Sink.(*alert.Alertmanager)
	if !ok || !spec.Push {
		t.Fatalf("alertmanager sink built as %T, push %v: want *alert.Alertmanager, a push sink", spec.Sink, spec.Push)
	}
	if err := am.Close(); err != nil {
		t.Fatal(err)
	}
}

// A configuration whose second sink cannot be built leaves no goroutine
// of the first behind.
func TestDispatcherClosesBuiltSinksOnError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bad := filepath.Join(t.TempDir(), "missing", "alerts.jsonl")
	c, err := config.Parse([]byte("alerts:\n  sinks:\n    - type: alertmanager\n      url: http://127.0.0.1:9093\n    - type: file\n      path: " + bad + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dispatcher(c, nil, io.Discard, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "alerts.sinks[1]") {
		t.Fatalf("got %v, want the file sink's error", err)
	}
}

// An alertmanager sink's incidents are kept in the state directory of a
// daemon (one with an outbox) only, and come back as saved.
func TestIncidentStoreInTheStateDirectory(t *testing.T) {
	c := config.Default()
	c.StateDir = t.TempDir()
	am := config.Sink{Type: "alertmanager", URL: "http://127.0.0.1:9093"}
	if incidentStore(c, nil, am) != nil {
		t.Error("a command without an outbox keeps incidents on disk")
	}
	st := incidentStore(c, &outbox.Store{}, am)
	if doc, err := st.Load(); doc != nil || err != nil {
		t.Fatalf("first load: %q, %v; want nothing", doc, err)
	}
	if err := st.Save([]byte(`[{"key":"k"}]`)); err != nil {
		t.Fatal(err)
	}
	if doc, err := st.Load(); string(doc) != `[{"key":"k"}]` || err != nil {
		t.Errorf("load after save: %q, %v", doc, err)
	}
}
