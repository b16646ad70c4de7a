package app

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sentinel-project/sentinel/models"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/detect/iforest"
)

// ModelSource says which model the isolation forest scores with: a path,
// or "built-in".
type ModelSource string

// BuiltIn names the model that ships with sentinel.
const BuiltIn ModelSource = "built-in"

// forestOptions loads the isolation forest's model and settings. The
// model is the configured file, else the one `sentinel train` left in
// the state directory, else the built-in one.
func forestOptions(c *config.Config) (detect.ForestOptions, ModelSource, error) {
	f := c.Detect.IForest
	if !f.On() {
		return detect.ForestOptions{}, "", nil
	}
	m, src, err := loadModel(c)
	if err != nil {
		return detect.ForestOptions{}, "", err
	}
	o := detect.ForestOptions{
		Model:       m,
		Threshold:   f.Threshold,
		MinRequests: f.MinRequests,
		Train:       iforest.Options{Extended: true, SampleSize: detect.DefaultForestSampleSize},
		Seed:        1,
	}
	if f.Retrains() {
		o.Reservoir, o.RetrainEvery = f.Reservoir, f.RetrainEvery
	}
	return o, src, nil
}

func loadModel(c *config.Config) (*detect.Model, ModelSource, error) {
	path := c.Detect.IForest.Model
	if path != "" {
		m, err := readModel(path)
		if err != nil {
			return nil, "", &config.FieldError{Field: "detect.iforest.model", Msg: err.Error()}
		}
		return m, ModelSource(path), nil
	}
	path = filepath.Join(c.StateDir, config.ModelFile)
	m, err := readModel(path)
	switch {
	case err == nil:
		return m, ModelSource(path), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("%w (move it away to use the built-in model)", err)
	}
	m, err = detect.LoadModel(bytes.NewReader(models.IForest))
	if err != nil {
		return nil, "", fmt.Errorf("loading the built-in model: %w", err)
	}
	return m, BuiltIn, nil
}

func readModel(path string) (*detect.Model, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening model: %w", err)
	}
	defer fh.Close()
	m, err := detect.LoadModel(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
