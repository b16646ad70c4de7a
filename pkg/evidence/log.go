package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/state"
)

// Files of the evidence log in the state directory. LogFile is the
// segment being appended to; a full one is renamed LogFile + "." + the
// seq of its first entry, zero-padded, so that names sort in chain order.
const (
	LogFile  = "evidence.log"
	HeadFile = "evidence.head"
)

// Genesis is the prev of the first entry ever written.
var Genesis = strings.Repeat("0", sha256.Size*2)

// Entry is one line of the log. Its Hash is the SHA-256 of the previous
// entry's hash (32 bytes) followed by the entry's body: the line's bytes
// up to its "hash" member, with a closing brace in its place (see body).
// The alert is stored with an empty Chain: its chain is this entry's
// hash, which cannot be inside what it hashes.
type Entry struct {
	Seq      uint64       `json:"seq"`
	Prev     string       `json:"prev"`
	Alert    *alert.Alert `json:"alert"`
	Evidence *Evidence    `json:"evidence"`
	Hash     string       `json:"hash"`
}

// Head is the content of HeadFile: the last entry appended, and the
// first entry kept (older segments are removed past LogOptions.Segments).
type Head struct {
	Seq   uint64 `json:"seq"`
	Hash  string `json:"hash"`
	First uint64 `json:"first"`
}

// LogOptions bound the log's size on disk.
type LogOptions struct {
	// SegmentBytes is the size past which a new segment is started;
	// default 64 MiB.
	SegmentBytes int64
	// Segments is the most segment files kept, the one being appended
	// to included; default 16. The oldest is removed when a new one
	// starts.
	Segments int
}

// Defaults of LogOptions.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultSegments     = 16
)

// Log appends entries to the evidence log of a state directory. It is
// not safe for concurrent use.
type Log struct {
	dir   string
	opts  LogOptions
	f     *os.File
	size  int64
	first uint64 // seq of the active segment's first entry; 0 while empty
	head  Head
	// Recovered says what opening repaired, for the caller to log.
	Recovered Recovery
}

// Recovery is what Open found wrong and repaired or tolerated.
type Recovery struct {
	// TornBytes were cut from the end: an append a crash interrupted,
	// whose alert was never sent.
	TornBytes int
	// HeadAhead is set when HeadFile names a later entry than the log
	// ends with: entries were removed. The chain goes on from the last
	// entry present; verify keeps reporting the loss.
	HeadAhead bool
}

// Open opens the log in dir, creating it if needed, and cuts a torn last
// line left by a crash.
func Open(dir string, opts LogOptions) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Segments <= 0 {
		opts.Segments = DefaultSegments
	}
	l := &Log{dir: dir, opts: opts, head: Head{Hash: Genesis, First: 1}}
	if err := l.recover(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(l.path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening evidence log: %w", err)
	}
	l.f = f
	return l, nil
}

func (l *Log) path() string { return filepath.Join(l.dir, LogFile) }

// recover finds the last entry, in the active segment or else in the
// newest older one, after cutting off whatever follows the last whole
// line.
func (l *Log) recover() error {
	data, err := os.ReadFile(l.path())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading evidence log: %w", err)
	}
	whole := bytes.LastIndexByte(data, '\n') + 1
	if whole < len(data) {
		if err := state.TruncateFile(l.path(), int64(whole)); err != nil {
			return fmt.Errorf("cutting the torn last line off the evidence log: %w", err)
		}
		l.Recovered.TornBytes = len(data) - whole
	}
	data = data[:whole]
	l.size = int64(whole)
	if first, ok := firstEntry(data); ok {
		l.first = first.Seq
	}
	last, ok := lastEntry(data)
	if !ok {
		last, ok, err = l.lastOfSegments()
		if err != nil {
			return err
		}
	}
	if ok {
		l.head.Seq, l.head.Hash = last.Seq, last.Hash
	}
	return l.readHead()
}

// readHead takes the first entry kept from HeadFile, and notes when the
// file names a later entry than the log holds.
func (l *Log) readHead() error {
	h, err := ReadHead(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if h.First > 0 {
		l.head.First = h.First
	}
	l.Recovered.HeadAhead = h.Seq > l.head.Seq
	return nil
}

// lastOfSegments returns the last entry of the newest older segment.
func (l *Log) lastOfSegments() (Entry, bool, error) {
	segs, err := Segments(l.dir)
	if err != nil || len(segs) == 0 {
		return Entry{}, false, err
	}
	data, err := os.ReadFile(segs[len(segs)-1])
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading evidence log segment: %w", err)
	}
	e, ok := lastEntry(data)
	return e, ok, nil
}

// lastEntry returns the last line of data that parses as an entry.
func lastEntry(data []byte) (Entry, bool) {
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if e, err := parseLine(lines[i]); err == nil {
			return e, true
		}
	}
	return Entry{}, false
}

func firstEntry(data []byte) (Entry, bool) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	e, err := parseLine(line)
	return e, err == nil
}

// Head returns the last entry appended.
func (l *Log) Head() Head { return l.head }

// Append writes a as the next entry with its evidence, syncs it, updates
// HeadFile, and sets a.Chain to the entry's hash. On error a is left
// without a chain.
func (l *Log) Append(a *alert.Alert, ev *Evidence) error {
	stored := *a
	stored.Chain = ""
	if ev == nil {
		ev = &Evidence{}
	}
	seq := l.head.Seq + 1
	body, err := json.Marshal(struct {
		Seq      uint64       `json:"seq"`
		Prev     string       `json:"prev"`
		Alert    *alert.Alert `json:"alert"`
		Evidence *Evidence    `json:"evidence"`
	}{seq, l.head.Hash, &stored, ev})
	if err != nil {
		return fmt.Errorf("encoding evidence entry %d: %w", seq, err)
	}
	hash := chainHash(l.head.Hash, body)
	line := append(body[:len(body)-1], `,"hash":"`+hash+"\"}\n"...)
	if err := l.rotate(int64(len(line)), seq); err != nil {
		return err
	}
	if _, err := l.f.Write(line); err != nil {
		return l.undo(fmt.Errorf("appending evidence entry %d: %w", seq, err))
	}
	if err := l.f.Sync(); err != nil {
		return l.undo(fmt.Errorf("syncing evidence entry %d: %w", seq, err))
	}
	l.size += int64(len(line))
	if l.first == 0 {
		l.first = seq
	}
	l.head.Seq, l.head.Hash = seq, hash
	if err := l.writeHead(); err != nil {
		return err
	}
	a.Chain = hash
	return nil
}

// undo cuts off what a failed append may have left, so that the next
// entry, which takes the same sequence number, is not written after a
// part of this one, which verify would report as tampering.
func (l *Log) undo(err error) error {
	if terr := l.f.Truncate(l.size); terr != nil {
		return fmt.Errorf("%w; cutting it off again: %v", err, terr)
	}
	return err
}

// chainHash is the hash of an entry whose body is body after the entry
// whose hash is prev (hex).
func chainHash(prev string, body []byte) string {
	p, _ := hex.DecodeString(prev)
	h := sha256.New()
	h.Write(p)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func (l *Log) writeHead() error {
	err := state.WriteAtomic(filepath.Join(l.dir, HeadFile), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(l.head)
	})
	if err != nil {
		return fmt.Errorf("writing evidence head: %w", err)
	}
	return nil
}

// rotate starts a new segment when an entry of n bytes would take the
// active one past SegmentBytes, and removes the oldest segments past
// Segments. The new segment's first entry chains to the old one's last
// like any other.
func (l *Log) rotate(n int64, seq uint64) error {
	if l.size == 0 || l.size+n <= l.opts.SegmentBytes {
		return nil
	}
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("closing full evidence segment: %w", err)
	}
	old := fmt.Sprintf("%s.%020d", l.path(), l.first)
	if err := os.Rename(l.path(), old); err != nil {
		return fmt.Errorf("starting a new evidence segment: %w", err)
	}
	f, err := os.OpenFile(l.path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("opening new evidence segment: %w", err)
	}
	l.f, l.size, l.first = f, 0, seq
	return l.prune()
}

// prune removes the oldest segments past Segments and records the first
// entry kept, so that verify tells a removal by rotation from a deletion.
func (l *Log) prune() error {
	segs, err := Segments(l.dir)
	if err != nil {
		return err
	}
	for len(segs) > l.opts.Segments-1 {
		if err := os.Remove(segs[0]); err != nil {
			return fmt.Errorf("removing old evidence segment: %w", err)
		}
		segs = segs[1:]
	}
	first := l.first
	if len(segs) > 0 {
		first = segmentSeq(segs[0])
	}
	l.head.First = max(l.head.First, first)
	return nil
}

// Segments returns the older segment files of dir, oldest first.
func Segments(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, LogFile+".*"))
	if err != nil {
		return nil, err
	}
	var segs []string
	for _, p := range paths {
		if segmentSeq(p) > 0 {
			segs = append(segs, p)
		}
	}
	slices.Sort(segs) // zero-padded seqs sort as numbers
	return segs, nil
}

// segmentSeq returns the first seq a segment's name carries, 0 when the
// name is not a segment's.
func segmentSeq(path string) uint64 {
	ext := strings.TrimPrefix(filepath.Ext(path), ".")
	if len(ext) != 20 {
		return 0
	}
	n, err := strconv.ParseUint(ext, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// ReadHead reads HeadFile in dir.
func ReadHead(dir string) (Head, error) {
	data, err := os.ReadFile(filepath.Join(dir, HeadFile))
	if err != nil {
		return Head{}, err
	}
	var h Head
	if err := json.Unmarshal(data, &h); err != nil {
		return Head{}, fmt.Errorf("reading %s: %w", HeadFile, err)
	}
	return h, nil
}

// Close closes the log.
func (l *Log) Close() error { return l.f.Close() }

// hashSuffixLen is the length of `,"hash":"<64 hex>"}`.
const hashSuffixLen = len(`,"hash":""}`) + sha256.Size*2

// parseLine reads one line (without its newline), checking that its hash
// is its own; it does not check the chain.
func parseLine(line []byte) (Entry, error) {
	body, hash, err := split(line)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, fmt.Errorf("not an entry: %w", err)
	}
	if e.Hash != hash || !isHash(e.Prev) {
		return Entry{}, errors.New("not an entry: malformed hash or prev")
	}
	if chainHash(e.Prev, body) != hash {
		return e, errEdited
	}
	return e, nil
}

var errEdited = errors.New("its hash does not match its content")

// split returns a line's body (what its hash covers) and its hash.
func split(line []byte) (body []byte, hash string, err error) {
	n := len(line)
	if n < hashSuffixLen+2 || !bytes.HasPrefix(line[n-hashSuffixLen:], []byte(`,"hash":"`)) ||
		!bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, "", errors.New("not an entry: no hash at its end")
	}
	hash = string(line[n-hashSuffixLen+len(`,"hash":"`) : n-2])
	if !isHash(hash) {
		return nil, "", errors.New("not an entry: malformed hash")
	}
	body = append(slices.Clip(line[:n-hashSuffixLen]), '}')
	return body, hash, nil
}

// IsHash reports whether s is written as a chain hash: 64 lowercase hex
// digits.
func IsHash(s string) bool { return isHash(s) }

func isHash(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
