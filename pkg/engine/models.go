package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// modelRefs names the files that hold the isolation forest's models of a
// checkpoint. A checkpoint is rewritten every few seconds and a model
// changes once a day, at megabytes a model: each is written once, to a
// file named by its content in a folder of the state directory that
// sentinel alone writes to, and the checkpoint names it.
type modelRefs struct {
	Model, Trained, Shadow string
}

const (
	modelDir    = "forest"
	modelPrefix = "retrained-"
)

// errModelFile marks a model file of the checkpoint that cannot be read.
var errModelFile = errors.New("reading isolation forest model of the checkpoint")

// storeModels writes the models of fst to dir, unless already there, and
// takes them out of fst.
func storeModels(stateDir string, fst *detect.ForestState) (modelRefs, error) {
	var refs modelRefs
	if fst == nil {
		return refs, nil
	}
	dir := filepath.Join(stateDir, modelDir)
	for _, m := range []struct {
		data *[]byte
		ref  *string
	}{{&fst.Model, &refs.Model}, {&fst.Trained, &refs.Trained}, {&fst.Shadow, &refs.Shadow}} {
		if len(*m.data) == 0 {
			continue
		}
		sum := sha256.Sum256(*m.data)
		name := modelPrefix + hex.EncodeToString(sum[:12]) + ".model"
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return modelRefs{}, fmt.Errorf("saving isolation forest model: %w", err)
			}
			data := *m.data
			if err := state.WriteAtomic(path, func(w io.Writer) error {
				_, err := w.Write(data)
				return err
			}); err != nil {
				return modelRefs{}, fmt.Errorf("saving isolation forest model: %w", err)
			}
		}
		*m.ref, *m.data = name, nil
	}
	return refs, nil
}

// loadModels puts back into fst the models refs names.
func loadModels(stateDir string, fst *detect.ForestState, refs modelRefs) error {
	if fst == nil {
		return nil
	}
	dir := filepath.Join(stateDir, modelDir)
	for _, m := range []struct {
		data *[]byte
		ref  string
	}{{&fst.Model, refs.Model}, {&fst.Trained, refs.Trained}, {&fst.Shadow, refs.Shadow}} {
		if m.ref == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.Base(m.ref)))
		if err != nil {
			return fmt.Errorf("%w: %w", errModelFile, err)
		}
		*m.data = data
	}
	return nil
}

// pruneModels removes the model files that refs does not name: those of
// earlier checkpoints. It touches nothing outside its own folder.
func pruneModels(stateDir string, refs modelRefs) error {
	dir := filepath.Join(stateDir, modelDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, modelPrefix) || !strings.HasSuffix(name, ".model") {
			continue
		}
		if name == refs.Model || name == refs.Trained || name == refs.Shadow {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
