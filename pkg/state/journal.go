package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sentinel-project/sentinel/pkg/alert"
)

// Journal remembers the ids of the alerts already raised. After a crash,
// the lines since the last checkpoint are read again and raise the same
// alerts with the same ids; the journal is what stops them from being sent
// a second time. Ids are appended (and written through to the kernel)
// before an alert is handed to the sinks.
//
// The journal keeps at most limit ids: when it grows past twice that, it
// is rewritten with the newest limit. Ids older than that belong to
// windows long before any checkpoint and cannot come back.
//
// A Journal is safe for concurrent use: ids are recorded from the sinks'
// goroutines once an alert is written, and looked up from the engine's.
type Journal struct {
	mu    sync.Mutex
	path  string
	limit int
	f     *os.File
	seen  map[string]struct{}
	order []string
}

// OpenJournal opens (creating it if needed) the journal at path.
func OpenJournal(path string, limit int) (*Journal, error) {
	if limit <= 0 {
		limit = 100000
	}
	j := &Journal{path: path, limit: limit, seen: make(map[string]struct{})}
	if err := j.load(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening alert journal: %w", err)
	}
	j.f = f
	return j, nil
}

// load reads the ids already recorded. A crash can leave the last line
// torn ("bbbbbbb" with no newline), and a power loss can leave a run of
// zero bytes in place of the last lines: the file is first cut back to
// just after its last newline, so that the next id starts a line of its
// own and is not glued onto the torn one, and any line that is not an id
// is then skipped. Neither loses an alert: a line not fully written
// belongs to an alert never handed to a sink, which is raised again.
func (j *Journal) load() error {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading alert journal: %w", err)
	}
	whole := bytes.LastIndexByte(data, '\n') + 1
	if whole < len(data) {
		if err := TruncateFile(j.path, int64(whole)); err != nil {
			return fmt.Errorf("cutting the torn last line off the alert journal: %w", err)
		}
	}
	for line := range bytes.SplitSeq(data[:whole], []byte("\n")) {
		if validID(line) {
			j.remember(string(line))
		}
	}
	return nil
}

// TruncateFile cuts the file at path to size and syncs it, so that a
// crash straight after does not bring a torn line back.
func TruncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// validID reports whether b is an alert id: alert.IDLen lowercase hex
// digits.
func validID[T string | []byte](b T) bool {
	if len(b) != alert.IDLen {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (j *Journal) remember(id string) {
	if _, ok := j.seen[id]; ok {
		return
	}
	j.seen[id] = struct{}{}
	j.order = append(j.order, id)
}

// Seen reports whether id was recorded.
func (j *Journal) Seen(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.seen[id]
	return ok
}

// Record appends id, which must be an alert id (16 lowercase hex
// digits). It returns false, writing nothing, when id was already
// recorded.
func (j *Journal) Record(id string) (bool, error) {
	if !validID(id) {
		// Checked so that every line of the file is one id that load
		// will accept: anything else would be forgotten on reopening.
		return false, fmt.Errorf("recording alert id %q: not %d lowercase hex digits", id, alert.IDLen)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.seen[id]; ok {
		return false, nil
	}
	if _, err := j.f.WriteString(id + "\n"); err != nil {
		return false, fmt.Errorf("appending to alert journal: %w", err)
	}
	j.remember(id)
	if len(j.order) > 2*j.limit {
		return true, j.compact()
	}
	return true, nil
}

// compact rewrites the journal with the newest limit ids.
func (j *Journal) compact() error {
	keep := append([]string(nil), j.order[len(j.order)-j.limit:]...)
	err := WriteAtomic(j.path, func(w io.Writer) error {
		for _, id := range keep {
			if _, err := io.WriteString(w, id+"\n"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compacting alert journal: %w", err)
	}
	j.f.Close()
	f, err := os.OpenFile(j.path, os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("reopening alert journal: %w", err)
	}
	j.f = f
	j.order = keep
	j.seen = make(map[string]struct{}, len(keep))
	for _, id := range keep {
		j.seen[id] = struct{}{}
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}
