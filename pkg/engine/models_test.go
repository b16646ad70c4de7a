package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/internal/testlog"
	"github.com/sentinel-project/sentinel/models"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
	"github.com/sentinel-project/sentinel/pkg/gen"
)

func TestModelsLiveBesideTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	fst := &detect.ForestState{Model: []byte("model in use"), Shadow: []byte("model in its shadow")}
	refs, err := storeModels(dir, fst)
	if err != nil {
		t.Fatal(err)
	}
	if fst.Model != nil || fst.Shadow != nil || refs.Model == "" || refs.Shadow == "" || refs.Trained != "" {
		t.Fatalf("after store: state %+v, refs %+v", fst, refs)
	}
	// A second save of the same models writes nothing new.
	info, err := os.Stat(filepath.Join(dir, modelDir, refs.Model))
	if err != nil {
		t.Fatal(err)
	}
	again := &detect.ForestState{Model: []byte("model in use")}
	refs2, err := storeModels(dir, again)
	if err != nil || refs2.Model != refs.Model {
		t.Fatalf("storing the same model again: %v, %+v", err, refs2)
	}
	if info2, _ := os.Stat(filepath.Join(dir, modelDir, refs.Model)); !info2.ModTime().Equal(info.ModTime()) {
		t.Error("the same model was written again")
	}

	back := &detect.ForestState{}
	if err := loadModels(dir, back, refs); err != nil {
		t.Fatal(err)
	}
	if string(back.Model) != "model in use" || string(back.Shadow) != "model in its shadow" {
		t.Fatalf("loaded %q and %q", back.Model, back.Shadow)
	}

	// Once the shadow took over, its old file goes, and nothing of the
	// operator's: a model they keep in the state directory stays.
	own := filepath.Join(dir, "iforest-prod.model")
	if err := os.WriteFile(own, []byte("theirs"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pruneModels(dir, refs2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, modelDir, refs.Shadow)); !os.IsNotExist(err) {
		t.Errorf("the shadow's file is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, modelDir, refs.Model)); err != nil {
		t.Errorf("the model in use was removed: %v", err)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("the operator's own model was removed: %v", err)
	}
	if err := loadModels(dir, &detect.ForestState{}, refs); err == nil {
		t.Error("a checkpoint naming a missing model file loaded")
	}
}

// TestRestartSurvivesADamagedModelFile damages the retrained model of a
// live run's checkpoint: the restart must keep the baselines and score
// with the configured model, not refuse to start.
func TestRestartSurvivesADamagedModelFile(t *testing.T) {
	dir := t.TempDir()
	full, _ := generate(t, dir, gen.Options{Seed: 8, Tokens: 150, Duration: 6 * 24 * time.Hour, Attacks: true})
	model := builtinModel(t)
	opts := testOptions()
	opts.Detect.Forest = detect.ForestOptions{
		Model: model, Reservoir: 5000, RetrainEvery: 6 * time.Hour, Shadow: 6 * time.Hour,
		Train: iforest.Options{Extended: true, Trees: 20, SampleSize: 256},
	}
	var log testlog.Buffer
	opts.Logger = zerolog.New(&log)
	damaged := false
	got := stopAndResume(t, dir, full, opts, func(stateDir string) {
		files, _ := filepath.Glob(filepath.Join(stateDir, modelDir, modelPrefix+"*"))
		for _, f := range files {
			if err := os.WriteFile(f, []byte("damaged"), 0o600); err != nil {
				t.Fatal(err)
			}
			damaged = true
		}
	})
	if !damaged {
		t.Fatal("no retrained model file to damage: the test checks nothing")
	}
	if len(got) == 0 {
		t.Error("the restarted run raised no alert")
	}
	if !strings.Contains(log.String(), "scoring with the configured model until the next retraining") {
		t.Errorf("the damaged model was not reported; log:\n%s", log.String())
	}
}

// builtinModel loads the isolation forest's model that ships in the
// binary.
func builtinModel(tb testing.TB) *detect.Model {
	tb.Helper()
	m, err := detect.LoadModel(bytes.NewReader(models.IForest))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
