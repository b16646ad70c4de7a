package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sentinel-project/sentinel/pkg/detect"
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
	info, err := os.Stat(filepath.Join(dir, refs.Model))
	if err != nil {
		t.Fatal(err)
	}
	again := &detect.ForestState{Model: []byte("model in use")}
	refs2, err := storeModels(dir, again)
	if err != nil || refs2.Model != refs.Model {
		t.Fatalf("storing the same model again: %v, %+v", err, refs2)
	}
	if info2, _ := os.Stat(filepath.Join(dir, refs.Model)); !info2.ModTime().Equal(info.ModTime()) {
		t.Error("the same model was written again")
	}

	back := &detect.ForestState{}
	if err := loadModels(dir, back, refs); err != nil {
		t.Fatal(err)
	}
	if string(back.Model) != "model in use" || string(back.Shadow) != "model in its shadow" {
		t.Fatalf("loaded %q and %q", back.Model, back.Shadow)
	}

	// Once the shadow took over, its old file goes.
	if err := pruneModels(dir, refs2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, refs.Shadow)); !os.IsNotExist(err) {
		t.Errorf("the shadow's file is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, refs.Model)); err != nil {
		t.Errorf("the model in use was removed: %v", err)
	}
	if err := loadModels(dir, &detect.ForestState{}, refs); err == nil {
		t.Error("a checkpoint naming a missing model file loaded")
	}
}
