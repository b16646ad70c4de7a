package app

import (
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/features"
)

// limitOptions applies the configured limits to the engine options: the
// entities remembered per kind, and the windows the aggregator may open
// for entities the detector does not know yet, a tenth of the smaller
// maximum (at least 1000): the room a trim leaves (it cuts to 90%), so
// that one window's new entities fit without evicting twice.
func limitOptions(c *config.Config, o *engine.Options) {
	l := c.Limits
	o.Detect.MaxPerKind[features.Token] = l.MaxTokens
	o.Detect.MaxPerKind[features.IP] = l.MaxAddresses
	o.Features.MaxNew = max(config.MinEntities, min(l.MaxTokens, l.MaxAddresses)/10)
}

// SetMemoryLimit keeps the process under limits.memory, when set, by
// making seven eighths of it the Go runtime's soft memory limit
// (runtime/debug.SetMemoryLimit): the collector then works harder as the
// heap nears it rather than letting it double. The eighth left over is for
// what the runtime does not count, the binary's own pages first. The
// entity limits were sized to fit (see config.Limits), so the collector
// does not have to thrash to keep to it. Commands that run the engine
// call it once, before they start.
func SetMemoryLimit(c *config.Config, log zerolog.Logger) {
	n := c.Limits.MemoryBytes()
	if n <= 0 {
		return
	}
	debug.SetMemoryLimit(n / 8 * 7)
	log.Info().Str("memory", c.Limits.Memory).Int("max_tokens", c.Limits.MaxTokens).
		Int("max_addresses", c.Limits.MaxAddresses).Msg("memory limit set")
}
