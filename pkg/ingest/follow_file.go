package ingest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// followedPath follows whatever file is at one path, across rotations.
type followedPath struct {
	path      string
	globbed   bool // found by a pattern: forgotten once its file is gone
	out       chan<- Batch
	maxBatch  int
	pollEvery time.Duration
	log       zerolog.Logger
	start     *Position           // saved position, applied on the first open only
	cur       *followedFile       // nil while no file is open
	next      []*followedFile     // newer generations, oldest first
	state     string              // last state logged, so each change logs once
	gap       int64               // bytes known lost, reported with the next batch
	retire    func(*followedFile) // told of each file left behind, with how far it was read
	// budget caps the bytes read in one pass (see followPassBudget).
	budget int64
	// goneSince is when the path was first seen missing while a file was
	// open, zero while the path exists.
	goneSince time.Time
}

// followedFile is one open generation of a followed path.
type followedFile struct {
	f   *os.File
	id  FileID
	dev uint64
	ino uint64
	// head is the file's first bytes as read, up to MaxHeadLen. A file
	// that no longer starts with them was truncated and written again.
	head   []byte
	commit int64 // just after the last complete line delivered
	// seen is the largest size observed while the file still had its head.
	seen      int64
	carry     lineCarry
	lastGrown time.Time
}

func openFollowedFile(name string) (*followedFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	id, head, err := identifyWithHead(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	head = append(make([]byte, 0, MaxHeadLen), head...)
	ff := &followedFile{f: f, id: id, dev: id.Dev, ino: id.Ino, head: head, lastGrown: time.Now()}
	return ff, nil
}

// off is the offset of the next byte to read.
func (ff *followedFile) off() int64 {
	return ff.commit + int64(len(ff.carry.partial))
}

// growHead extends head with the bytes of data, read at file offset at,
// that lie within the first MaxHeadLen bytes of the file.
func (ff *followedFile) growHead(data []byte, at int64) {
	have := int64(len(ff.head))
	if have >= MaxHeadLen || at > have || at+int64(len(data)) <= have {
		return
	}
	from := have - at
	to := min(int64(len(data)), from+MaxHeadLen-have)
	ff.head = append(ff.head, data[from:to]...)
	ff.id = fileIDFromHead(ff.dev, ff.ino, ff.head)
}

// restart forgets everything read: the file was truncated.
func (ff *followedFile) restart() {
	ff.commit, ff.seen = 0, 0
	ff.carry = lineCarry{}
	ff.head = ff.head[:0]
	ff.id = fileIDFromHead(ff.dev, ff.ino, nil)
}

// poll reads what is new at the path and handles rotation. It reports
// whether data was left unread when the pass budget ran out.
func (fp *followedPath) poll(ctx context.Context) bool {
	if fp.cur == nil && !fp.openFirst() {
		return false
	}
	if fp.readAvailable(ctx) || ctx.Err() != nil {
		return true
	}
	return fp.checkRotation(ctx)
}

// openFirst opens the file at the path, applying the saved position if
// it belongs to that file or to a sibling it was rotated to.
func (fp *followedPath) openFirst() bool {
	ff, err := openFollowedFile(fp.path)
	if errors.Is(err, fs.ErrNotExist) {
		fp.setState("missing", err, "waiting for followed file to appear")
		return false
	}
	if err != nil {
		fp.setState("unreadable", err, "cannot read followed path; retrying")
		return false
	}
	if fp.start != nil {
		ff = fp.applyStart(ff, *fp.start)
		fp.start = nil
	}
	fp.cur = ff
	fp.setState("reading", nil, "following file")
	return true
}

func (fp *followedPath) applyStart(ff *followedFile, pos Position) *followedFile {
	fi, err := ff.f.Stat()
	if err == nil && fi.Size() >= pos.Offset && fileMatchesID(ff.f, fi, pos.ID) {
		ff.commit = pos.Offset
		return ff
	}
	sib, name := openRotatedSibling(fp.path, pos.ID.Dev, pos.ID.Ino, resumeMatcher(pos))
	if sib == nil {
		fp.log.Warn().Int64("saved_offset", pos.Offset).
			Msg("saved position belongs to another file; reading this one from its start")
		return ff
	}
	side, err := wrapSibling(sib)
	if err != nil {
		sib.Close()
		return ff
	}
	fp.log.Info().Str("rotated_to", name).Int64("saved_offset", pos.Offset).
		Msg("file was rotated while stopped; reading the rotated file from the saved position first")
	ff.f.Close()
	side.commit = pos.Offset
	return side
}

// resumeMatcher matches the file a saved position was taken from: the
// same inode (renamed), or a copy starting with the same bytes
// (copytruncate), holding at least pos.Offset bytes.
func resumeMatcher(pos Position) siblingMatch {
	return func(f *os.File, fi os.FileInfo, sameInode bool) bool {
		if fi.Size() < pos.Offset {
			return false
		}
		if sameInode {
			return fileHeadMatches(f, pos.ID)
		}
		return pos.ID.HeadLen >= minCopyHead && fileHeadMatches(f, pos.ID)
	}
}

func wrapSibling(f *os.File) (*followedFile, error) {
	id, head, err := identifyWithHead(f)
	if err != nil {
		return nil, err
	}
	head = append(make([]byte, 0, MaxHeadLen), head...)
	return &followedFile{f: f, id: id, dev: id.Dev, ino: id.Ino, head: head, lastGrown: time.Now()}, nil
}

// readAvailable reads the current file up to its end or the pass budget,
// sending its complete lines. It reports whether the budget ran out.
func (fp *followedPath) readAvailable(ctx context.Context) bool {
	ff := fp.cur
	for budget := fp.budget; budget > 0; {
		fi, err := ff.f.Stat()
		if err != nil {
			fp.setState("error", err, "cannot stat followed file")
			return false
		}
		if fi.Size() < ff.off() {
			fp.truncated(ctx)
			continue
		}
		n := min(fi.Size()-ff.off(), followReadSize, budget)
		if n == 0 {
			return false
		}
		got, err := fp.readChunk(ctx, n)
		if err != nil {
			if !errors.Is(err, errFollowTruncated) {
				fp.setState("error", err, "cannot read followed file")
				return false
			}
			fp.truncated(ctx)
			continue
		}
		budget -= got
		fp.noticeRotation()
	}
	return true
}

var errFollowTruncated = errors.New("file truncated and written again")

// readChunk reads up to n bytes at the read offset and sends their lines.
func (fp *followedPath) readChunk(ctx context.Context, n int64) (int64, error) {
	ff := fp.cur
	data := ff.carry.chunk(int(n))
	got, err := ff.f.ReadAt(data[len(data):cap(data)], ff.off())
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	// Checked after the read: if the file still starts as it did, it was
	// not truncated before the read, so what was read is the file's own
	// continuation and not bytes of a new content at a stale offset.
	if !fileStartsWith(ff.f, ff.head) {
		return 0, errFollowTruncated
	}
	data = data[:len(data)+got]
	ff.seen = max(ff.seen, ff.off()+int64(got))
	ff.growHead(data, ff.commit)
	if got > 0 {
		ff.lastGrown = time.Now()
	}
	return int64(got), fp.deliver(ctx, ff, data)
}

// deliver cuts data, read from ff at its commit offset, into batches.
func (fp *followedPath) deliver(ctx context.Context, ff *followedFile, data []byte) error {
	base := ff.commit
	return ff.carry.feed(data, fp.maxBatch, func(lines [][]byte, end int, gap int64) error {
		ff.commit = base + int64(end)
		fp.gap += gap
		return fp.send(ctx, ff, lines)
	})
}

func (fp *followedPath) send(ctx context.Context, ff *followedFile, lines [][]byte) error {
	if len(lines) == 0 {
		return nil
	}
	b := Batch{
		Source: fp.path,
		Lines:  lines,
		Pos:    Position{Path: fp.path, ID: ff.id, Offset: ff.commit},
		Gap:    fp.gap,
	}
	if err := fp.sendWatching(ctx, b); err != nil {
		return err
	}
	fp.gap = 0
	return nil
}

// sendWatching sends b, and while the receiver is not ready keeps
// noticing new generations of the path every poll interval, so that a
// slow consumer does not let a generation be rotated away unseen.
func (fp *followedPath) sendWatching(ctx context.Context, b Batch) error {
	select {
	case fp.out <- b:
		return nil
	default:
	}
	tick := time.NewTicker(fp.pollEvery)
	defer tick.Stop()
	for {
		select {
		case fp.out <- b:
			return nil
		case <-tick.C:
			if fp.cur != nil {
				fp.noticeRotation()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maxHeldGenerations bounds the files held open after the current one.
const maxHeldGenerations = 8

// noticeRotation opens the file now at the path when it is none of the
// files already held, and queues it after them. Holding each generation
// open as soon as it is seen, rather than when the current file is
// finished, is what keeps a generation that is rotated away again while
// Follow is still behind on an older one (TestFollowRotationWhileBusy
// under -race, where the consumer is slow). It reports whether the path
// still names a file.
func (fp *followedPath) noticeRotation() bool {
	fi, err := os.Stat(fp.path)
	if err != nil {
		if fp.goneSince.IsZero() {
			fp.goneSince = time.Now()
		}
		fp.setState("gone", err, "followed file was moved or deleted; reading what remains of it")
		return false
	}
	fp.goneSince = time.Time{}
	dev, ino := fileDevIno(fi)
	if fp.holds(dev, ino) || len(fp.next) >= maxHeldGenerations {
		return true
	}
	ff, err := openFollowedFile(fp.path)
	if err != nil {
		return false
	}
	if fp.holds(ff.dev, ff.ino) {
		ff.f.Close() // rotated back in the meantime
		return true
	}
	fp.next = append(fp.next, ff)
	return true
}

func (fp *followedPath) holds(dev, ino uint64) bool {
	if fp.cur.dev == dev && fp.cur.ino == ino {
		return true
	}
	for _, ff := range fp.next {
		if ff.dev == dev && ff.ino == ino {
			return true
		}
	}
	return false
}

// checkRotation, called when the current file is read to its end, moves
// on to the next generation once the writer has. It reports whether there
// is more to read at once.
func (fp *followedPath) checkRotation(ctx context.Context) bool {
	present := fp.noticeRotation()
	if len(fp.next) == 0 {
		if !present {
			fp.closeIfIdle(ctx)
		}
		return false
	}
	// While the only newer file is empty the writer may still be appending
	// to the current one (logrotate's "create" before the writer reopens):
	// keep reading the current one. Switching as soon as the path names a
	// new file, as nxadm/tail does, fails
	// TestFollowKeepsOldFileUntilWriterMoves.
	if len(fp.next) == 1 && followFileSize(fp.next[0].f) == 0 {
		return false
	}
	// Data in a newer file means the writer has moved on, so the current
	// file is complete. Draining it only now, after that data was seen, is
	// what keeps the lines written to the old file just after a rename
	// (TestFollowRotationWhileBusy/rename; nxadm/tail's issue 72 loses
	// them).
	if fp.readAvailable(ctx) || ctx.Err() != nil {
		return true
	}
	if fp.flushLast(ctx) != nil {
		return false
	}
	fp.log.Info().Int64("old_size", fp.cur.commit).Msg("followed file rotated; reading the new file from its start")
	fp.leave(fp.cur)
	fp.cur, fp.next = fp.next[0], fp.next[1:]
	fp.setState("reading", nil, "following file")
	// The new file is read from the next pass on, not in this one: a pass
	// first reports the old file's position under the name a pattern now
	// finds it by (follower.discover), and that must come before the new
	// file's first batch replaces this path's position.
	return true
}

func followFileSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// flushLast delivers the old file's last line when it ends without a
// newline: its writer has moved on and will not complete it.
func (fp *followedPath) flushLast(ctx context.Context) error {
	ff := fp.cur
	line := ff.carry.takeLast()
	if line == nil {
		return nil
	}
	ff.commit += int64(len(ff.carry.partial))
	ff.carry.partial = nil
	return fp.send(ctx, ff, [][]byte{line})
}

// closeIfIdle closes a file whose path has gone once nothing has been
// appended to it for followIdleClose, so a deleted file's space is freed.
func (fp *followedPath) closeIfIdle(ctx context.Context) {
	// A writer that has not reopened its log yet keeps appending to the
	// renamed file (logrotate's create before nginx's reopen), so the
	// wait counts from when the path went, not from the last growth,
	// which may be long before (TestFollowRenamedFileKeptWhileWriterLags).
	if time.Since(fp.cur.lastGrown) < followIdleClose || time.Since(fp.goneSince) < followIdleClose {
		return
	}
	if fp.flushLast(ctx) != nil {
		return
	}
	fp.closeCur()
	fp.setState("missing", nil, "closed the followed file that went away; waiting for a new one")
}

func (fp *followedPath) closeCur() {
	for _, ff := range fp.next {
		ff.f.Close()
	}
	fp.next = nil
	if fp.cur == nil {
		return
	}
	fp.leave(fp.cur)
	fp.cur = nil
}

// leave closes a file that was being read, saying how far it got.
func (fp *followedPath) leave(ff *followedFile) {
	if fp.retire != nil {
		fp.retire(ff)
	}
	ff.f.Close()
}

// setState logs msg when the path enters a new state, and only then.
func (fp *followedPath) setState(state string, err error, msg string) {
	if state == fp.state {
		return
	}
	fp.state = state
	ev := fp.log.Info()
	if state == "error" || state == "unreadable" {
		ev = fp.log.Warn()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		ev = ev.Err(err)
	}
	ev.Msg(msg)
}
