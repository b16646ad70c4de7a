package tune

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// DefaultScales are the sensitivity scales tried when none are given:
// from well more sensitive than the configuration to well less.
var DefaultScales = []float64{0.6, 0.8, 1, 1.25, 1.5, 2, 3}

// Keys are the detect settings a scale moves, with the values they take
// at one scale: exactly what is replayed, and what the snippet says.
type Keys struct {
	Z               float64 `json:"z"`
	Ratio           float64 `json:"ratio"`
	PopulationZ     float64 `json:"population_z"`
	MinMessages     float64 `json:"min_messages"`
	SlowMinMessages float64 `json:"slow_min_messages"`
	// ForestThreshold is detect.iforest.threshold; 0 leaves it to the
	// model's calibration (only at scale 1, when the configuration sets
	// none), and it is absent when the forest is off.
	ForestThreshold float64 `json:"iforest_threshold,omitempty"`
	forestOn        bool
}

// currentKeys reads the values in force from the engine options built
// from the configuration: the configured ones, else the defaults. The
// forest's threshold is the configured one, else the loaded model's
// calibrated one.
func currentKeys(c *config.Config, o engine.Options) Keys {
	d := o.Detect
	k := Keys{
		Z: d.Z, Ratio: d.Ratio, PopulationZ: d.PopulationZ,
		MinMessages:     d.MinAbs[features.Token][features.Messages],
		SlowMinMessages: d.HorizonMinAbs[features.Token],
		forestOn:        c.Detect.IForest.On(),
	}
	if k.forestOn {
		k.ForestThreshold = d.Forest.ThresholdFor(d.Forest.Model)
	}
	return k
}

// scaled returns the keys at scale s of the current ones k: the
// thresholds multiplied by s (ratio at least 1), and the forest's
// distance from a perfect score of 1 divided by s, within the 0.5 to
// 0.99 the forest allows. Values are rounded so that what is printed is
// what was replayed. Scale 1 is the configuration itself, its forest
// threshold the configured one (0 for the calibrated).
func (k Keys) scaled(s, configured float64) Keys {
	if s == 1 {
		k.ForestThreshold = configured
		return k
	}
	out := Keys{
		Z:               round(k.Z*s, 100),
		Ratio:           max(1, round(k.Ratio*s, 100)),
		PopulationZ:     round(k.PopulationZ*s, 100),
		MinMessages:     max(1, math.Round(k.MinMessages*s)),
		SlowMinMessages: max(1, math.Round(k.SlowMinMessages*s)),
		forestOn:        k.forestOn,
	}
	if k.forestOn {
		out.ForestThreshold = min(0.99, max(0.5, round(1-(1-k.ForestThreshold)/s, 1000)))
	}
	return out
}

func round(v, per float64) float64 { return math.Round(v*per) / per }

// apply returns a copy of c with the keys set in its detect section.
func (k Keys) apply(c *config.Config) *config.Config {
	cc := *c
	d := &cc.Detect
	d.Z, d.Ratio, d.PopulationZ = k.Z, k.Ratio, k.PopulationZ
	d.MinMessages, d.HorizonMinMessages = k.MinMessages, k.SlowMinMessages
	if k.forestOn {
		d.IForest.Threshold = k.ForestThreshold
	}
	return &cc
}

// Snippet is the keys as the detect section of a configuration file,
// to paste over the same keys of the current one.
func (k Keys) Snippet() string {
	var b strings.Builder
	b.WriteString("detect:\n")
	for _, kv := range []struct {
		name string
		v    float64
	}{
		{"z", k.Z}, {"ratio", k.Ratio}, {"population_z", k.PopulationZ},
		{"min_messages", k.MinMessages}, {"slow_min_messages", k.SlowMinMessages},
	} {
		fmt.Fprintf(&b, "  %s: %s\n", kv.name, num(kv.v))
	}
	if k.ForestThreshold > 0 {
		fmt.Fprintf(&b, "  iforest:\n    threshold: %s\n", num(k.ForestThreshold))
	}
	if k.forestOn && k.ForestThreshold == 0 {
		b.WriteString("  # iforest.threshold: unset, each model's calibrated threshold\n")
	}
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
