package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Why sentinel follows files with its own reader and not github.com/nxadm/tail:
// TestFollowRotationWhileBusy, run against a follower built on nxadm/tail
// v1.4.11 (ReOpen, Follow, CompleteLines), lost 25,000 to 26,000 of 60,000
// lines in its rename and delete cases (and once stopped reading for good
// after a delete), because the library reopens the path as soon as the old
// name goes away, without draining the old file (its issue 72); in its
// copytruncate case it lost lines outside the copy window. Its inotify watcher also
// keeps a package-wide goroutine that never stops. The follower below
// polls, keeps the old descriptor after a rotation and drains it before
// moving on, and checks that the file still starts with the bytes it
// started with.

const (
	defaultPollInterval = 250 * time.Millisecond
	defaultFollowBatch  = 4096
	// followReadSize caps one read of a followed file.
	followReadSize = 1 << 20
	// followPassBudget caps the bytes read from one file in one pass, so
	// that files with a backlog are read side by side, a few hundred lines
	// at a time, rather than one to its end before the next: the engine
	// waits for the source that lags (up to a bound), and one file read
	// far ahead would keep every window of that span open. A pass with
	// work left starts the next at once.
	followPassBudget = 16 << 10
	// followSoloBudget is the pass budget when only one file is followed:
	// nothing to interleave with, and larger reads catch up about a fifth
	// faster.
	followSoloBudget = 32 << 20
	// followIdleClose is how long a file whose path has gone may stay idle
	// (counted from when the path went, or from its last growth if later)
	// before its descriptor is closed. Until then a writer that has not yet
	// reopened its log can still append to it.
)

// followIdleClose is a variable so that tests can shorten it.
var followIdleClose = 10 * time.Second

// FollowOptions configures Follow.
type FollowOptions struct {
	// Paths are files or glob patterns. Patterns are matched again every
	// PollInterval, so a file that appears later is read from its start.
	// A pattern may also match rotated names (access*.log matching
	// access-2024-05-14.log): a file renamed while followed or while
	// sentinel was down is recognised by its inode and resumed, not read
	// again.
	Paths []string
	// Start holds saved positions by path, from a checkpoint. A path
	// without one is read from its beginning.
	Start map[string]Position
	// PollInterval is how often files are checked for new lines and
	// rotation; 250ms when zero.
	PollInterval time.Duration
	// MaxBatch caps the lines of one batch; 4096 when zero.
	MaxBatch int
	// Logger receives one line per change of a file's state (missing,
	// rotated, truncated), never one per line read.
	Logger zerolog.Logger
}

func (o FollowOptions) withDefaults() FollowOptions {
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultFollowBatch
	}
	return o
}

// Follow reads the files named by opts.Paths and follows them as they
// grow, across rotation by rename, by delete and recreate, and by
// copytruncate, until ctx is done; it then returns nil. It sends only
// complete lines: a line still being written is held until its newline
// arrives. Each batch's Pos is the position just after its last line, for
// a checkpoint to hand back through opts.Start; the checkpoint must keep
// the latest Pos of each Pos.Path.
//
// Some batches carry no lines, only a Pos: when a pattern matches a file
// under a name other than the one its position was last reported under
// (access.log renamed to access-2024-05-14.log), Follow reports the
// position under the new name, before reading anything from the file now
// at the old name, so that a restart resumes the renamed file instead of
// reading it again. Such a batch's Source is the new name.
//
// A saved position is applied only to the file it was taken from (same
// device, inode and first bytes) and only if the file is at least that
// long. When that file was rotated away while sentinel was down, to a
// sibling such as app.log.1 or a copy of it, the sibling is read from the
// saved offset first and the new file from its start. Otherwise the file
// is read from its start.
//
// Follow never closes out. Files are opened read-only. It returns an error
// only for an invalid pattern in opts.Paths.
//
// Known limits. Rename and delete rotations: each new file at the path is
// held open when first seen, up to 8 generations ahead, so none is lost
// unless one is created and rotated away within one PollInterval.
// Copytruncate: lines written between logrotate's copy and its truncate,
// after Follow's last read, are lost, and Batch.Gap counts only the bytes
// Follow saw and could not deliver (it cannot see the others); when
// Follow is more than one rotation behind, the generations in between
// exist only in copies it cannot order, and are lost. A saved position
// whose file was rotated more than once while sentinel was down resumes
// that file, but the generations in between are not read. Each rotated
// name a pattern matches adds a Pos.Path that Follow never withdraws, even
// once the file is deleted: pruning those is the checkpoint's business.
func Follow(ctx context.Context, opts FollowOptions, out chan<- Batch) error {
	opts = opts.withDefaults()
	for _, p := range opts.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("checking follow path %q: %w", p, err)
		}
	}
	fl := &follower{opts: opts, out: out, byPath: map[string]*followedPath{}, start: map[string]Position{}, done: map[followInode]Position{}}
	for path, pos := range opts.Start {
		fl.start[filepath.Clean(path)] = pos
	}
	defer fl.closeAll()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		wait := opts.PollInterval
		if fl.pass(ctx) {
			wait = 0
		}
		timer.Reset(wait)
	}
}

// follower is the set of paths Follow watches.
type follower struct {
	opts   FollowOptions
	out    chan<- Batch
	byPath map[string]*followedPath
	order  []string // paths in the order found, so passes are repeatable
	// start holds the saved positions not yet used. Each is used once: a
	// path matched again later by a pattern is a new file, and its old
	// position, if applied, could re-read a rotated sibling.
	start map[string]Position
	// done remembers how far the files already left behind were read, by
	// device and inode, so that a pattern matching a rotated name
	// (access*.log matching access-2024-05-14.log after a rename) picks
	// the file up where it was left rather than reading it again.
	done map[followInode]Position
	// moved holds positions to report under a file's new name before
	// anything else is read (see discover).
	moved []Batch
}

type followInode struct{ dev, ino uint64 }

// maxDoneFiles bounds the memory of files left behind; past it the
// oldest knowledge is dropped, at worst re-reading a rotated file that a
// pattern matches.
const maxDoneFiles = 4096

// pass finds new paths and reads every path once. It reports whether some
// file still had data to read when its budget ran out.
func (fl *follower) pass(ctx context.Context) bool {
	fl.discover()
	if fl.sendMoved(ctx) != nil {
		return false
	}
	busy := false
	budget := int64(followPassBudget)
	if len(fl.order) == 1 {
		budget = followSoloBudget
	}
	kept := fl.order[:0]
	for _, path := range fl.order {
		fp := fl.byPath[path]
		fp.budget = budget
		if ctx.Err() == nil && fp.poll(ctx) {
			busy = true
		}
		if fp.globbed && fp.cur == nil && ctx.Err() == nil && followPathGone(path) {
			delete(fl.byPath, path) // matched by a pattern and gone for good
			continue
		}
		// A match that exists but cannot be opened (a directory, a file
		// without read permission) is kept, so that its state is logged
		// once and not once per pass.
		kept = append(kept, path)
	}
	fl.order = kept
	return busy
}

func followPathGone(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// sendMoved sends the positions queued by discover.
func (fl *follower) sendMoved(ctx context.Context) error {
	for len(fl.moved) > 0 {
		select {
		case fl.out <- fl.moved[0]:
			fl.moved = fl.moved[1:]
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fl.moved = nil
	return nil
}

// globMatch is a path found by a pattern, with the file it names.
type globMatch struct {
	path string
	file followInode
}

// discover adds a followedPath for each literal path and each current
// match of a pattern.
//
// Saved positions are keyed by path, but a pattern can match a file under
// a name other than the one its position was saved under: the file was
// renamed (access.log to access-2024-05-14.log) after the position was
// taken, while sentinel was down or before the new name's first line. So
// the matches first claim the positions of their own files, found by
// device and inode; only the positions left over are applied by path,
// where a position of another file leads to the search for a rotated
// sibling. A position claimed under another name is then reported under
// the new one (a Batch with no lines), since the old name's entry will
// be overwritten by the positions of the file now at the old name.
func (fl *follower) discover() {
	found := fl.globMatches()
	starts := make([]*Position, len(found))
	for i, m := range found {
		starts[i] = fl.claimFile(m)
	}
	for i, m := range found {
		if starts[i] == nil {
			starts[i] = fl.claimPath(m.path)
		}
	}
	for _, p := range fl.opts.Paths {
		p = filepath.Clean(p)
		if _, ok := fl.byPath[p]; !ok && !followHasGlobMeta(p) {
			fl.add(p, false, fl.claimPath(p))
		}
	}
	for i, m := range found {
		fl.add(m.path, true, starts[i])
	}
}

// globMatches returns the new matches of the patterns: not yet followed,
// not literal paths, and not files followed under another name.
func (fl *follower) globMatches() []globMatch {
	var found []globMatch
	seen := map[string]bool{}
	for _, p := range fl.opts.Paths {
		if !followHasGlobMeta(p) {
			seen[filepath.Clean(p)] = true // followed as a literal path
		}
	}
	for _, p := range fl.opts.Paths {
		if !followHasGlobMeta(p) {
			continue
		}
		matches, _ := filepath.Glob(p) // the pattern was checked by Follow
		for _, m := range matches {
			m = filepath.Clean(m)
			if _, ok := fl.byPath[m]; ok || seen[m] {
				continue
			}
			seen[m] = true
			if file, ok := fl.unheld(m); ok {
				found = append(found, globMatch{path: m, file: file})
			}
		}
	}
	return found
}

// unheld returns the file at path unless it is being read under another
// name.
func (fl *follower) unheld(path string) (followInode, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return followInode{}, false
	}
	dev, ino := fileDevIno(fi)
	for _, fp := range fl.byPath {
		if fp.cur != nil && fp.holds(dev, ino) {
			return followInode{}, false // still being read under its old name
		}
	}
	return followInode{dev, ino}, true
}

// claimFile returns the position of the file m names, from a file left
// behind in this run or from the saved positions, and forgets every
// other position of that file so that none is applied twice. A position
// counts only if the file still starts as it did and is at least that
// long: an inode number is reused once its file is deleted. When the
// position was reported under another name, it is queued to be reported
// under m's.
func (fl *follower) claimFile(m globMatch) *Position {
	cands := fl.positionsOf(m.file)
	if len(cands) == 0 {
		return nil
	}
	f, err := os.Open(m.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	var best *Position
	for _, c := range cands {
		if fi.Size() < c.pos.Offset || !fileMatchesID(f, fi, c.pos.ID) {
			continue
		}
		c.forget()
		if best == nil || c.pos.Offset > best.Offset {
			best = &c.pos
		}
	}
	if best != nil && best.Path != m.path {
		best.Path = m.path
		fl.moved = append(fl.moved, Batch{Source: m.path, Pos: *best})
	}
	return best
}

// knownPosition is a position of a file, and how to forget it.
type knownPosition struct {
	pos    Position
	forget func()
}

// positionsOf returns the positions known for the file with the given
// device and inode.
func (fl *follower) positionsOf(file followInode) []knownPosition {
	var out []knownPosition
	if pos, ok := fl.done[file]; ok {
		out = append(out, knownPosition{pos, func() { delete(fl.done, file) }})
	}
	for path, pos := range fl.start {
		if (followInode{pos.ID.Dev, pos.ID.Ino}) == file {
			out = append(out, knownPosition{pos, func() { delete(fl.start, path) }})
		}
	}
	return out
}

// claimPath returns the saved position taken at path, if still unused.
func (fl *follower) claimPath(path string) *Position {
	pos, ok := fl.start[path]
	if !ok {
		return nil
	}
	delete(fl.start, path)
	return &pos
}

// retire records how far a file was read when Follow leaves it.
func (fl *follower) retire(ff *followedFile) {
	if len(fl.done) >= maxDoneFiles {
		clear(fl.done)
	}
	fl.done[followInode{ff.dev, ff.ino}] = Position{ID: ff.id, Offset: ff.commit}
}

func (fl *follower) add(path string, globbed bool, start *Position) {
	fp := &followedPath{
		path:      path,
		globbed:   globbed,
		out:       fl.out,
		maxBatch:  fl.opts.MaxBatch,
		pollEvery: fl.opts.PollInterval,
		log:       fl.opts.Logger.With().Str("path", path).Logger(),
		start:     start,
		retire:    fl.retire,
	}
	fl.byPath[path] = fp
	fl.order = append(fl.order, path)
}

func (fl *follower) closeAll() {
	for _, fp := range fl.byPath {
		fp.closeCur()
	}
}

func followHasGlobMeta(p string) bool {
	return strings.ContainsAny(p, `*?[\`)
}
