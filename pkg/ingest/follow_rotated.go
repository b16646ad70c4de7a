package ingest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// minCopyHead is the fewest head bytes by which a copy of a file is
// recognised. Fewer could match an unrelated file by chance.
const minCopyHead = 64

// siblingMatch says whether a file beside a followed path is the one
// sought. sameInode says it is the very file sought, under a new name.
type siblingMatch func(f *os.File, fi os.FileInfo, sameInode bool) bool

// openRotatedSibling looks beside path for the file that match accepts:
// any file with the given device and inode (renamed, whatever its new
// name), or one whose name starts with path's name (app.log.1,
// app.log-20250101: logrotate's copies). It returns the file open, and
// its name.
func openRotatedSibling(path string, dev, ino uint64, match siblingMatch) (*os.File, string) {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return nil, ""
	}
	for _, e := range entries {
		f, same := openSiblingCandidate(dir, base, e, dev, ino)
		if f == nil {
			continue
		}
		fi, err := f.Stat()
		if err == nil && match(f, fi, same) {
			return f, e.Name()
		}
		f.Close()
	}
	return nil, ""
}

func openSiblingCandidate(dir, base string, e os.DirEntry, dev, ino uint64) (*os.File, bool) {
	if e.Name() == base || !e.Type().IsRegular() {
		return nil, false
	}
	info, err := e.Info()
	if err != nil {
		return nil, false
	}
	d, i := fileDevIno(info)
	same := d == dev && i == ino
	if !same && !strings.HasPrefix(e.Name(), base) {
		return nil, false
	}
	f, err := os.Open(filepath.Join(dir, e.Name()))
	if err != nil {
		return nil, false
	}
	return f, same
}

// truncated handles the current file being cut short in place, as
// logrotate's copytruncate does. What had been seen but not delivered is
// lost, except what logrotate's copy still holds: the copy, found beside
// the file by its first bytes, is read from the last line delivered. The
// file is then read again from its start.
func (fp *followedPath) truncated(ctx context.Context) {
	ff := fp.cur
	known := max(ff.seen, ff.off())
	delivered := ff.commit
	if len(ff.head) >= minCopyHead {
		match := func(f *os.File, fi os.FileInfo, same bool) bool {
			return !same && fi.Size() >= int64(len(ff.head)) && fileStartsWith(f, ff.head)
		}
		if cp, name := openRotatedSibling(fp.path, ff.dev, ff.ino, match); cp != nil {
			size, done := fp.drainCopy(ctx, ff, cp)
			fp.log.Info().Str("copy", name).Msg("followed file was truncated; read the rest from its copy")
			known, delivered = max(known, size), max(delivered, done)
		}
	}
	lost := max(known-delivered, 0)
	fp.gap += lost
	fp.log.Info().Int64("lost_bytes", lost).Msg("followed file was truncated; reading it again from its start")
	ff.restart()
}

// drainCopy reads logrotate's copy of ff from ff's last delivered line to
// the copy's end, and returns the copy's size and the offset just after
// the last line delivered from it.
func (fp *followedPath) drainCopy(ctx context.Context, ff *followedFile, cp *os.File) (int64, int64) {
	defer cp.Close()
	side, err := wrapSibling(cp)
	if err != nil {
		return 0, 0
	}
	side.commit = ff.commit
	for ctx.Err() == nil {
		fi, err := cp.Stat()
		if err != nil {
			return 0, side.commit
		}
		if fi.Size() <= side.off() {
			return fi.Size(), side.commit
		}
		data := side.carry.chunk(int(min(fi.Size()-side.off(), followReadSize)))
		got, _ := cp.ReadAt(data[len(data):cap(data)], side.off())
		if got == 0 || fp.deliver(ctx, side, data[:len(data)+got]) != nil {
			return fi.Size(), side.commit
		}
	}
	return 0, side.commit
}
