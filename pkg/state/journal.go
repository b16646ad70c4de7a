package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
type Journal struct {
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

func (j *Journal) load() error {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading alert journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// A line torn by a crash is shorter than an id; skipping it is
		// safe because its alert was never handed to a sink.
		id := strings.TrimSpace(sc.Text())
		if id != "" {
			j.remember(id)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading alert journal: %w", err)
	}
	return nil
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
	_, ok := j.seen[id]
	return ok
}

// Record appends id. It returns false, writing nothing, when id was
// already recorded.
func (j *Journal) Record(id string) (bool, error) {
	if j.Seen(id) {
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
	return j.f.Close()
}
