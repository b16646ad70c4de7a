package evidence

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Problem kinds Verify reports.
const (
	Edited    = "edited"
	Missing   = "missing entry"
	Truncated = "truncated"
	Torn      = "torn"
)

// Problem is the first thing wrong with a log: where (file, line, seq)
// and what.
type Problem struct {
	File   string
	Line   int    // 1-based; 0 when about the log as a whole
	Seq    uint64 // the entry's seq, or the one expected there
	Kind   string
	Detail string
}

func (p *Problem) Error() string {
	where := filepath.Base(p.File)
	if p.Line > 0 {
		where = fmt.Sprintf("%s line %d (seq %d)", where, p.Line, p.Seq)
	}
	return fmt.Sprintf("evidence log %s: %s: %s", p.Kind, where, p.Detail)
}

// Summary describes an intact log.
type Summary struct {
	Entries     int
	First, Last uint64
	Head        string
	Files       int
}

func (s Summary) String() string {
	if s.Entries == 0 {
		return "evidence log intact: no entries"
	}
	return fmt.Sprintf("evidence log intact: %d entries (seq %d to %d) in %d file(s), head %s",
		s.Entries, s.First, s.Last, s.Files, s.Head)
}

// VerifyOptions say what to check a log against.
type VerifyOptions struct {
	// Dir is a state directory: its segments and LogFile are checked in
	// order, and against its HeadFile.
	Dir string
	// File, instead of Dir, checks one log file on its own.
	File string
	// Head is a chain hash from an alert received: an entry must have
	// it, or the log was cut or rewritten after that alert.
	Head string
}

// Verify checks every entry's hash against its content and the chain
// from each entry to the next, then the end of the log against HeadFile
// and opts.Head. It returns the first Problem found, or a Summary.
func Verify(opts VerifyOptions) (Summary, error) {
	if opts.Head != "" && !isHash(opts.Head) {
		return Summary{}, fmt.Errorf("--head %q is not a chain hash: allowed are the 64 hex digits of an alert's chain field", opts.Head)
	}
	files, head, err := opts.files()
	if err != nil {
		return Summary{}, err
	}
	v := &verifier{want: opts.Head, prevHash: Genesis, anyStart: opts.File != ""}
	if head != nil {
		v.headKnown = true
		v.headSeq = head.Seq
		v.from = max(head.First, 1)
	}
	for _, f := range files {
		if err := v.file(f); err != nil {
			return Summary{}, err
		}
	}
	if err := v.checkEnd(files, head); err != nil {
		return Summary{}, err
	}
	return Summary{Entries: v.n, First: v.first, Last: v.seq, Head: v.prevHash, Files: len(files)}, nil
}

// files lists the files to check and reads the head file, if any.
func (o VerifyOptions) files() ([]string, *Head, error) {
	if o.File != "" {
		return []string{o.File}, nil, nil
	}
	segs, err := Segments(o.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("listing evidence segments: %w", err)
	}
	files := segs
	if _, err := os.Stat(filepath.Join(o.Dir, LogFile)); err == nil {
		files = append(files, filepath.Join(o.Dir, LogFile))
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no evidence log in %s", o.Dir)
	}
	h, err := ReadHead(o.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return files, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return files, &h, nil
}

type verifier struct {
	headSeq   uint64 // the head file's last entry, 0 without one
	headKnown bool   // there is a head file to tell a tear from a cut
	want      string // opts.Head
	found     bool   // an entry has hash want
	from      uint64 // first seq kept, when older segments were removed
	n         int
	first     uint64
	seq       uint64 // last entry's
	prevHash  string // last entry's hash
	anyStart  bool   // one file checked alone may be a later segment
	seen      map[uint64]string
}

func (v *verifier) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening evidence log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF && len(b) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading evidence log %s: %w", path, err)
		}
		p := &Problem{File: path, Line: line, Seq: v.seq + 1}
		if err == io.EOF {
			return v.incomplete(p)
		}
		if err := v.entry(b[:len(b)-1], p); err != nil {
			return err
		}
	}
}

// incomplete reports a last line without its end. A crash during an
// append leaves one, before the head file names it and before its alert
// is sent; an entry the head file already names was whole once, so its
// end was cut off since.
func (v *verifier) incomplete(p *Problem) error {
	if v.headSeq >= p.Seq {
		p.Kind, p.Detail = Truncated, fmt.Sprintf("the last line is incomplete, but the head file says entry %d was written whole: the log was cut", v.headSeq)
		return p
	}
	p.Kind, p.Detail = Torn, "the last line is incomplete: an append interrupted by a crash, which sentinel cuts at its next start (its alert was not sent), or the file cut short; checked with its state directory, verify tells the two apart"
	if v.headKnown {
		p.Detail = "the last line is incomplete: an append interrupted by a crash, which sentinel cuts at its next start (its alert was not sent)"
	}
	return p
}

// entry checks one line against its own hash and the chain.
func (v *verifier) entry(line []byte, p *Problem) error {
	e, err := parseLine(line)
	if errors.Is(err, errEdited) {
		p.Seq, p.Kind, p.Detail = e.Seq, Edited, "its hash does not match its content"
		return p
	}
	if err != nil {
		p.Kind, p.Detail = Edited, err.Error()
		return p
	}
	p.Seq = e.Seq
	if v.n == 0 {
		return v.start(e, p)
	}
	switch {
	case e.Seq > v.seq+1:
		p.Kind, p.Detail = Missing, fmt.Sprintf("follows seq %d: entries %d to %d are missing", v.seq, v.seq+1, e.Seq-1)
		return p
	case e.Seq <= v.seq:
		p.Kind, p.Detail = Edited, fmt.Sprintf("follows seq %d: out of order or repeated", v.seq)
		return p
	case e.Prev != v.prevHash:
		p.Kind, p.Detail = Edited, fmt.Sprintf("its prev is not the hash of seq %d: that entry or this one was replaced", v.seq)
		return p
	}
	v.accept(e)
	return nil
}

// start checks the first entry: seq 1 after the genesis hash, or the
// first entry kept when older segments were removed by rotation.
func (v *verifier) start(e Entry, p *Problem) error {
	want := max(v.from, 1)
	switch {
	case e.Seq > want && !v.anyStart:
		p.Kind, p.Detail = Missing, fmt.Sprintf("the log starts at seq %d, not %d: its first entries are missing", e.Seq, want)
		return p
	case e.Seq == 1 && e.Prev != Genesis:
		p.Kind, p.Detail = Edited, "the first entry does not chain to the genesis hash"
		return p
	}
	v.first = e.Seq
	v.accept(e)
	return nil
}

func (v *verifier) accept(e Entry) {
	v.n++
	v.seq, v.prevHash = e.Seq, e.Hash
	if e.Hash == v.want {
		v.found = true
	}
	if v.seen == nil {
		v.seen = make(map[uint64]string)
	}
	// Only the last two are needed to check the head file; keeping them
	// all would grow with the log.
	v.seen[e.Seq] = e.Hash
	delete(v.seen, e.Seq-2)
}

// checkEnd compares the end of the log with the head file, which names
// the last entry appended (the log may hold one more, written just
// before a crash), and with the chain hash of a received alert.
func (v *verifier) checkEnd(files []string, head *Head) error {
	last := files[len(files)-1]
	if head != nil && head.Seq > v.seq {
		return &Problem{File: last, Seq: v.seq + 1, Kind: Truncated,
			Detail: fmt.Sprintf("the log ends at seq %d but %s names seq %d: entries %d to %d were cut", v.seq, HeadFile, head.Seq, v.seq+1, head.Seq)}
	}
	if head != nil && head.Seq+1 < v.seq {
		return &Problem{File: last, Seq: head.Seq, Kind: Edited,
			Detail: fmt.Sprintf("%s names seq %d but the log goes on to seq %d: entries were added without it, or it is stale", HeadFile, head.Seq, v.seq)}
	}
	if head != nil && head.Seq > 0 && v.seen[head.Seq] != head.Hash {
		return &Problem{File: last, Seq: head.Seq, Kind: Edited,
			Detail: fmt.Sprintf("%s names seq %d with hash %s, which the log's entry %d does not have", HeadFile, head.Seq, head.Hash, head.Seq)}
	}
	if v.want != "" && !v.found {
		return &Problem{File: last, Seq: v.seq + 1, Kind: Truncated,
			Detail: fmt.Sprintf("no entry has hash %s, the chain of an alert received: the log was cut or rewritten after it (the log ends at seq %d)", v.want, v.seq)}
	}
	return nil
}
