package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/sentinel-project/sentinel/pkg/engine"
)

// progressEvery is the least time between two updates of the line.
const progressEvery = 250 * time.Millisecond

// progressLine shows a replay's progress on one line of a terminal,
// rewritten in place with a carriage return, and erased at the end.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	start time.Time
	last  time.Time
	width int // of the longest line written, to erase it
}

// newProgressLine returns a progress line on w when w is a terminal, nil
// otherwise: a log file or a pipe gets no carriage returns.
func newProgressLine(w io.Writer) *progressLine {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	return &progressLine{w: w, now: time.Now, start: time.Now()}
}

// update rewrites the line, at most every progressEvery.
func (p *progressLine) update(pr engine.Progress) {
	now := p.now()
	if now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	s := formatProgress(pr, now.Sub(p.start))
	pad := max(0, p.width-len(s))
	p.width = max(p.width, len(s))
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
}

// clear erases the line, if one was written.
func (p *progressLine) clear() {
	if p == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

// formatProgress says how far a replay is after elapsed: lines read and
// their rate, and when the files' sizes are known the share read and an
// estimate of the time left at the rate so far.
func formatProgress(pr engine.Progress, elapsed time.Duration) string {
	s := fmt.Sprintf("replaying: %s lines", count(float64(pr.Lines)))
	secs := elapsed.Seconds()
	if secs > 0 {
		s += fmt.Sprintf(", %s lines/s", count(float64(pr.Lines)/secs))
	}
	if pr.Total <= 0 || pr.Bytes <= 0 {
		return s
	}
	frac := min(float64(pr.Bytes)/float64(pr.Total), 1)
	s += fmt.Sprintf(", %.0f%%", 100*frac)
	if secs < 1 {
		// Too early for the rate to say anything.
		return s
	}
	left := time.Duration(secs * (1 - frac) / frac * float64(time.Second))
	return s + ", " + clock(left) + " left"
}

// count writes n with a k or M suffix past a thousand.
func count(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

// clock writes d as h:mm:ss, or m:ss under an hour.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
