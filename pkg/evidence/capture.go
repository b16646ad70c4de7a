package evidence

import (
	"strconv"
	"time"
)

// CaptureOptions bound the lines kept for evidence.
type CaptureOptions struct {
	// MaxLines is the most lines kept per window; default 20.
	MaxLines int
	// LineBytes is the most bytes kept of one line, after redaction;
	// default 2048.
	LineBytes int
	// Budget is the most bytes all windows' lines may take together;
	// default 8 MiB.
	Budget int64
}

// Defaults of CaptureOptions.
const (
	DefaultMaxLines  = 20
	DefaultLineBytes = 2048
	DefaultBudget    = 8 << 20
)

func (o CaptureOptions) withDefaults() CaptureOptions {
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultMaxLines
	}
	if o.LineBytes <= 0 {
		o.LineBytes = DefaultLineBytes
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	return o
}

// Capture keeps lines of the windows that may alert, until they close.
// The caller decides which lines to offer (the engine offers those of a
// window already above its expected level and half its threshold, so
// that ordinary traffic costs nothing); Capture bounds what they take:
// at most MaxLines lines of at most LineBytes bytes per window, and
// Budget bytes over all windows, each window also charged entryBytes for
// its bookkeeping. Past the budget a window keeps what it has and counts
// the rest, and a window not yet started keeps nothing. With the
// defaults, a window takes at most about 41 KiB and the whole capture
// 8 MiB, whatever the number of tokens.
//
// Lines are redacted as they are offered, so no raw token is held here.
// A Capture is not safe for concurrent use.
type Capture struct {
	opts CaptureOptions
	used int64
	wins map[winKey]*captured
}

type winKey struct {
	kind  int
	key   string
	start int64
}

type captured struct {
	end   int64
	lines []string
	more  int64
	full  bool // a line was not kept for want of budget
}

// entryBytes is what one window's bookkeeping is charged: the map entry,
// its key and the slice.
const entryBytes = 160

// NewCapture returns an empty Capture.
func NewCapture(opts CaptureOptions) *Capture {
	return &Capture{opts: opts.withDefaults(), wins: make(map[winKey]*captured)}
}

// Holds reports whether the window of kind, key and start has begun
// keeping lines: from then on every line of it is kept (up to the caps),
// even while its thresholds, which move within a window as it passes its
// floors, would not call it near.
func (c *Capture) Holds(kind int, key string, start time.Time) bool {
	if len(c.wins) == 0 {
		return false
	}
	_, ok := c.wins[winKey{kind, key, start.UnixNano()}]
	return ok
}

// Add offers a line of the window of kind and key that starts at start
// and ends at end. token is the raw credential the line carried (empty
// when none) and fp its fingerprint: the line is kept with every
// occurrence of token replaced by fp.
func (c *Capture) Add(kind int, key string, start, end time.Time, line []byte, token, fp string) {
	k := winKey{kind, key, start.UnixNano()}
	w := c.wins[k]
	if w == nil {
		if c.used+entryBytes > c.opts.Budget {
			return
		}
		w = &captured{end: end.UnixNano()}
		c.wins[k] = w
		c.used += entryBytes
	}
	if len(w.lines) >= c.opts.MaxLines {
		w.more++
		return
	}
	kept := c.clip(Redact(line, token, fp))
	cost := int64(len(kept)) + 16
	if c.used+cost > c.opts.Budget {
		w.more++
		w.full = true
		return
	}
	c.used += cost
	w.lines = append(w.lines, kept)
}

// One returns a single line as a window would keep it, redacted and
// clipped, for an alert judged on one request rather than a window.
func (c *Capture) One(line []byte, token, fp string) string {
	return c.clip(Redact(line, token, fp))
}

// clip cuts a redacted line to LineBytes, saying how much was cut. It
// cuts after redaction, so that half a token is never left unreplaced.
func (c *Capture) clip(line []byte) string {
	if len(line) <= c.opts.LineBytes {
		return string(line)
	}
	cut := len(line) - c.opts.LineBytes
	return string(line[:c.opts.LineBytes]) + "…[" + strconv.Itoa(cut) + " bytes cut]"
}

// Lines returns the lines kept of a window, how many more were seen, and
// whether lines were lost to the budget. A window never offered a line
// while the budget was spent reports full.
func (c *Capture) Lines(kind int, key string, start time.Time) (lines []string, more int64, full bool) {
	w := c.wins[winKey{kind, key, start.UnixNano()}]
	if w == nil {
		return nil, 0, c.used+entryBytes > c.opts.Budget
	}
	return w.lines, w.more, w.full
}

// Release forgets the windows that end at or before watermark: closed,
// they raise no more alerts.
func (c *Capture) Release(watermark time.Time) {
	wm := watermark.UnixNano()
	for k, w := range c.wins {
		if w.end > wm {
			continue
		}
		c.used -= entryBytes
		for _, l := range w.lines {
			c.used -= int64(len(l)) + 16
		}
		delete(c.wins, k)
	}
}

// Used returns the bytes the capture is charged for now.
func (c *Capture) Used() int64 { return c.used }
