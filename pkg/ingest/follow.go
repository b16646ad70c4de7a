package ingest

import (
	"context"
	"fmt"
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
	// followPassBudget caps the bytes read from one file in one pass, so a
	// file far behind does not keep the others waiting; the next pass then
	// starts at once.
	followPassBudget = 32 << 20
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
	// access-2024-05-14.log): a file renamed while followed is recognised
	// by its inode and not read again.
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
// a checkpoint to hand back through opts.Start.
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
// that file, but the generations in between are not read.
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
	busy := false
	kept := fl.order[:0]
	for _, path := range fl.order {
		fp := fl.byPath[path]
		if ctx.Err() == nil && fp.poll(ctx) {
			busy = true
		}
		if fp.globbed && fp.cur == nil && ctx.Err() == nil {
			delete(fl.byPath, path) // matched by a pattern and gone for good
			continue
		}
		kept = append(kept, path)
	}
	fl.order = kept
	return busy
}

// discover adds a followedPath for each literal path and each current
// match of a pattern.
func (fl *follower) discover() {
	for _, p := range fl.opts.Paths {
		if !followHasGlobMeta(p) {
			fl.add(p, false)
			continue
		}
		matches, _ := filepath.Glob(p) // the pattern was checked by Follow
		for _, m := range matches {
			fl.addMatch(m)
		}
	}
}

// addMatch adds a path found by a pattern, unless its file is one being
// followed under another name; a file left behind earlier is resumed from
// where it was left.
func (fl *follower) addMatch(path string) {
	path = filepath.Clean(path)
	if _, ok := fl.byPath[path]; ok {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	dev, ino := fileDevIno(fi)
	for _, fp := range fl.byPath {
		if fp.cur != nil && fp.holds(dev, ino) {
			return // still being read under its old name
		}
	}
	if pos, ok := fl.done[followInode{dev, ino}]; ok {
		pos.Path = path
		fl.start[path] = pos
	}
	fl.add(path, true)
}

// retire records how far a file was read when Follow leaves it.
func (fl *follower) retire(ff *followedFile) {
	if len(fl.done) >= maxDoneFiles {
		clear(fl.done)
	}
	fl.done[followInode{ff.dev, ff.ino}] = Position{ID: ff.id, Offset: ff.commit}
}

func (fl *follower) add(path string, globbed bool) {
	path = filepath.Clean(path)
	if _, ok := fl.byPath[path]; ok {
		return
	}
	fp := &followedPath{
		path:      path,
		globbed:   globbed,
		out:       fl.out,
		maxBatch:  fl.opts.MaxBatch,
		pollEvery: fl.opts.PollInterval,
		log:       fl.opts.Logger.With().Str("path", path).Logger(),
		retire:    fl.retire,
	}
	if pos, ok := fl.start[path]; ok {
		fp.start = &pos
		delete(fl.start, path)
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
