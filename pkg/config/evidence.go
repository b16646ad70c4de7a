package config

import (
	"crypto/sha256"
	"encoding/hex"
)

// Evidence configures the evidence log kept in the state directory by
// `sentinel run`: every alert with what it was judged on, hash-chained
// so that `sentinel verify` finds an edit, a deletion or a cut.
type Evidence struct {
	// Enabled keeps the log; default true.
	Enabled *bool `yaml:"enabled"`
	// MaxLines is the most log lines kept per alerting window; default
	// 20. LineBytes is the most bytes kept of one line; default 2048.
	MaxLines  int `yaml:"max_lines"`
	LineBytes int `yaml:"line_bytes"`
	// Budget bounds the memory all windows' kept lines take, such as
	// "8MiB" (the default).
	Budget string `yaml:"budget"`
	// SegmentSize is the size past which the log starts a new file,
	// default "64MiB"; Segments is the most files kept, default 16.
	SegmentSize string `yaml:"segment_size"`
	Segments    int    `yaml:"segments"`

	budget, segment int64
}

// On reports whether the evidence log is kept.
func (e Evidence) On() bool { return e.Enabled == nil || *e.Enabled }

// BudgetBytes and SegmentBytes return Budget and SegmentSize in bytes.
func (e Evidence) BudgetBytes() int64  { return e.budget }
func (e Evidence) SegmentBytes() int64 { return e.segment }

func (e *Evidence) applyDefaults() {
	setDefault(&e.MaxLines, 20)
	setDefault(&e.LineBytes, 2048)
	setDefault(&e.Budget, "8MiB")
	setDefault(&e.SegmentSize, "64MiB")
	setDefault(&e.Segments, 16)
	e.budget, _ = ParseBytes(e.Budget)
	e.segment, _ = ParseBytes(e.SegmentSize)
}

func (c *Config) validateEvidence() error {
	e := c.Evidence
	var errs []error
	if e.MaxLines < 0 || e.MaxLines > 1000 {
		errs = append(errs, c.fieldErr("evidence.max_lines", "%d is out of range: allowed is 1 to 1000 (default 20)", e.MaxLines))
	}
	if e.LineBytes < 256 || e.LineBytes > 1<<20 {
		errs = append(errs, c.fieldErr("evidence.line_bytes", "%d is out of range: allowed is 256 to 1048576 (default 2048)", e.LineBytes))
	}
	if b, err := ParseBytes(e.Budget); err != nil || b < 64<<10 || b > 1<<30 {
		errs = append(errs, c.fieldErr("evidence.budget", "%q is not a size from 64KiB to 1GiB, such as \"8MiB\"", e.Budget))
	}
	if b, err := ParseBytes(e.SegmentSize); err != nil || b < 64<<10 {
		errs = append(errs, c.fieldErr("evidence.segment_size", "%q is not a size of 64KiB or more, such as \"64MiB\"", e.SegmentSize))
	}
	if e.Segments < 2 || e.Segments > 100000 {
		errs = append(errs, c.fieldErr("evidence.segments", "%d is out of range: allowed is 2 to 100000 (default 16)", e.Segments))
	}
	return joinErrors(errs)
}

// SHA256 is the SHA-256, in hex, of the configuration file's bytes
// exactly as read (before environment variables are expanded), or of no
// bytes for the defaults: what an alert's evidence names the
// configuration by. Hash is its first 16 characters.
func (c *Config) SHA256() string {
	if c.sum == "" {
		sum := sha256.Sum256(nil)
		return hex.EncodeToString(sum[:])
	}
	return c.sum
}
