package app

import (
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// detectOptions starts from the detector's defaults and applies what the
// configuration sets; a zero in the configuration means "the default".
func detectOptions(c config.Detect) detect.Options {
	o := detect.DefaultOptions()
	setIf(&o.Warmup, c.Warmup)
	setIf(&o.Cooldown, c.Cooldown)
	setIf(&o.HalfLife, c.HalfLife)
	setIf(&o.IdleTTL, c.IdleTTL)
	setIf(&o.Z, c.Z)
	setIf(&o.Ratio, c.Ratio)
	setIf(&o.PeakRatio, c.PeakRatio)
	setIf(&o.PopulationZ, c.PopulationZ)
	setIf(&o.MinAbs[features.Token][features.Messages], c.MinMessages)
	setIf(&o.Horizon, c.Horizon)
	setIf(&o.HorizonMinAbs[features.Token], c.HorizonMinMessages)
	setIf(&o.DormantAfter, c.DormantAfter)
	o.Novelty.Off = !c.Novelty.On()
	setIf(&o.Novelty.After, c.Novelty.After)
	o.BudgetOn = c.Budget.Enabled
	return o
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// contracts turns the configured contracts into the detector's.
func contracts(c map[string]config.Contract) map[string]detect.Contract {
	out := make(map[string]detect.Contract, len(c))
	for fp, k := range c {
		d := detect.Contract{PerHour: -1, PerDay: -1, Networks: k.Prefixes(), Clients: k.Clients}
		if k.MessagesPerHour != nil {
			d.PerHour = *k.MessagesPerHour
		}
		if k.MessagesPerDay != nil {
			d.PerDay = *k.MessagesPerDay
		}
		for _, e := range k.Endpoints {
			d.Endpoints = append(d.Endpoints, detect.Endpoint{Method: e.Method, Path: e.Path})
		}
		out[fp] = d
	}
	return out
}
