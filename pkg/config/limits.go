package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits bounds the entities sentinel tracks and the memory it uses.
type Limits struct {
	// MaxTokens and MaxAddresses bound the tokens and the client
	// addresses whose baselines are remembered. Past them the shortest
	// histories are forgotten first, established tokens last.
	MaxTokens    int `yaml:"max_tokens"`
	MaxAddresses int `yaml:"max_addresses"`
	// Memory is the resident memory sentinel keeps under, such as
	// "768MiB"; default DefaultMemory, "0" for no limit. max_tokens and
	// max_addresses left unset are sized to fit in it, and those given
	// must fit.
	Memory string `yaml:"memory"`

	memory int64 // Memory in bytes, 0 when unset or unreadable
	// tokenBytes is the memory budgeted per token: TokenBytes, and
	// BudgetTokenBytes more with the budget detector on.
	tokenBytes int
	// derived marks, per kind, a maximum sized from Memory.
	derivedTokens, derivedAddrs bool
}

// What the limits are sized with. The bytes per entity are budgets, not
// measurements: BenchmarkEntityMemory (pkg/detect) measures about 584
// bytes per token with its profile and 360 per address at a million of
// each (760 per token with the budget detector on); a checkpoint copies and encodes every entity
// (about as much again while it runs); and the aggregator may hold a
// window (BenchmarkWindowMemory: about 520 bytes) for a tenth of the
// maximum in each of two open minutes (see MaxNew in pkg/app).
const (
	DefaultMaxEntities = 1_000_000
	MinEntities        = 1000
	MaxEntities        = 100_000_000
	TokenBytes         = 1280
	AddressBytes       = 896
	// BudgetTokenBytes is what the budget detector adds to a token when
	// it is on: its hour-of-day profile (about 180 bytes), twice over for
	// the checkpoint's copy.
	BudgetTokenBytes = 384
	// EntityShare is the part of Memory the entities may take; the rest
	// is the runtime, buffers, the isolation forest and the collector's
	// headroom.
	EntityShare = 0.5
	MinMemory   = 64 << 20
)

// MemoryBytes returns Memory in bytes, 0 for no limit.
func (l Limits) MemoryBytes() int64 { return l.memory }

// DefaultMemory bounds sentinel without a configuration: a flood of new
// keys must not be able to grow it until the kernel kills it. It fits the
// shipped unit's MemoryMax=1G with room to spare.
const DefaultMemory = "768MiB"

// applyDefaults sizes unset maxima from Memory; budget says whether the
// budget detector's state makes each token larger.
func (l *Limits) applyDefaults(budget bool) {
	l.tokenBytes = TokenBytes
	if budget {
		l.tokenBytes += BudgetTokenBytes
	}
	setDefault(&l.Memory, DefaultMemory)
	l.memory, _ = ParseBytes(l.Memory)
	l.derivedTokens, l.derivedAddrs = l.MaxTokens == 0, l.MaxAddresses == 0
	if l.memory <= 0 {
		setDefault(&l.MaxTokens, DefaultMaxEntities)
		setDefault(&l.MaxAddresses, DefaultMaxEntities)
		return
	}
	// Unset maxima share what the set ones leave of the budget, equally
	// in number, up to the default.
	left := EntityShare*float64(l.memory) - float64(l.MaxTokens*l.tokenBytes+l.MaxAddresses*AddressBytes)
	per := 0.0
	if l.derivedTokens {
		per += float64(l.tokenBytes)
	}
	if l.derivedAddrs {
		per += AddressBytes
	}
	if per == 0 {
		return
	}
	n := int(min(max(left/per, 0), DefaultMaxEntities))
	setDefault(&l.MaxTokens, n)
	setDefault(&l.MaxAddresses, n)
}

// entityBytes is the memory budgeted for the configured maxima.
func (l *Limits) entityBytes() int64 {
	return int64(l.MaxTokens)*int64(l.tokenBytes) + int64(l.MaxAddresses)*AddressBytes
}

func (c *Config) validateLimits() error {
	l := &c.Limits
	var errs []error
	if l.Memory != "" {
		if err := l.checkMemory(); err != nil {
			errs = append(errs, c.fieldErr("limits.memory", "%v", err))
			return joinErrors(errs)
		}
	}
	for _, m := range []struct {
		field, what string
		n           int
		derived     bool
	}{
		{"limits.max_tokens", "tokens", l.MaxTokens, l.derivedTokens},
		{"limits.max_addresses", "addresses", l.MaxAddresses, l.derivedAddrs},
	} {
		switch {
		case m.derived && m.n < MinEntities:
			errs = append(errs, c.fieldErr("limits.memory", "%s leaves room for only %d %s%s: "+
				"allowed is enough for at least %d (%d bytes a token, %d an address, in %.0f%% of it)",
				l.Memory, m.n, m.what, l.givenNote(), MinEntities, l.tokenBytes, AddressBytes, EntityShare*100))
			return joinErrors(errs) // the other kind would say the same
		case m.n < MinEntities || m.n > MaxEntities:
			errs = append(errs, c.fieldErr(m.field, "%d is out of range: allowed is %d to %d", m.n, MinEntities, MaxEntities))
		}
	}
	if len(errs) > 0 || l.memory == 0 {
		return joinErrors(errs)
	}
	if need := l.entityBytes(); float64(need) > EntityShare*float64(l.memory) {
		field := "limits.max_tokens"
		if l.derivedTokens {
			field = "limits.max_addresses"
		}
		fit := int(EntityShare * float64(l.memory) / float64(l.tokenBytes+AddressBytes))
		errs = append(errs, c.fieldErr(field, "%d tokens and %d addresses need about %s (%d bytes a token, %d an address), "+
			"more than the %.0f%% of limits.memory (%s) they may take: allowed with this memory is about %d of each; "+
			"lower them, leave them unset to size them from limits.memory, or raise it",
			l.MaxTokens, l.MaxAddresses, FormatBytes(need), l.tokenBytes, AddressBytes, EntityShare*100, l.Memory, fit))
	}
	return joinErrors(errs)
}

// givenNote says which given maximum took the room, if one did.
func (l *Limits) givenNote() string {
	switch {
	case !l.derivedTokens && l.derivedAddrs:
		return fmt.Sprintf(" beside the %d of limits.max_tokens", l.MaxTokens)
	case l.derivedTokens && !l.derivedAddrs:
		return fmt.Sprintf(" beside the %d of limits.max_addresses", l.MaxAddresses)
	}
	return ""
}

// checkMemory says what is wrong with Memory, if anything.
func (l *Limits) checkMemory() error {
	n, err := ParseBytes(l.Memory)
	switch {
	case err != nil:
		return err
	case n == 0:
		return nil // no limit, asked for
	case n < MinMemory:
		return fmt.Errorf("%s is too small: allowed is %s or more, or 0 for no limit", l.Memory, FormatBytes(MinMemory))
	}
	return nil
}

// byteUnits are the suffixes ParseBytes reads. K, M, G and T are powers
// of 1024, as in systemd's MemoryMax=, so the two read alike.
var byteUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
	"G": 1 << 30, "GiB": 1 << 30, "T": 1 << 40, "TiB": 1 << 40,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// ParseBytes reads a size such as "512MiB", "1GiB", "1.5G", "800MB" or a
// plain number of bytes.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := byteUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v < 0 || v*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size: write a number and a unit, e.g. 512MiB or 1GiB "+
			"(K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB of 1000)", s)
	}
	return int64(v * float64(mult)), nil
}

// FormatBytes writes n in the largest binary unit it reaches, as
// "1.5GiB" or "512MiB".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + units[u]
}
