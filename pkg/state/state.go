// Package state keeps what sentinel must not forget across restarts: the
// checkpoint (learned baselines, open windows and file positions, saved
// together so they always agree) and the journal of alerts already raised.
// Every file is replaced atomically, so a crash leaves the old version or
// the new one, never a torn mix.
package state

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteAtomic writes path through write, into a temporary file in the
// same directory that is synced and then renamed over path. The directory
// is synced too, so the rename itself survives a power loss.
func WriteAtomic(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed

	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// checkpointMagic starts every checkpoint file, so that a file of another
// kind or of an incompatible version is refused with a clear error rather
// than decoded into garbage.
const checkpointMagic = "sentinel-checkpoint"

// CheckpointVersion changes whenever the layout of a checkpoint changes in a
// way an older or newer binary cannot read.
const CheckpointVersion = 1

// ErrNoCheckpoint is returned by Load when there is no checkpoint yet.
var ErrNoCheckpoint = errors.New("no checkpoint")

// Save writes v (a gob-encodable value) as the checkpoint at path.
func Save(path string, v any) error {
	return WriteAtomic(path, func(w io.Writer) error {
		enc := gob.NewEncoder(w)
		if err := enc.Encode(checkpointMagic); err != nil {
			return err
		}
		if err := enc.Encode(CheckpointVersion); err != nil {
			return err
		}
		return enc.Encode(v)
	})
}

// Load reads the checkpoint at path into v. It returns ErrNoCheckpoint when
// the file does not exist.
func Load(path string, v any) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoCheckpoint
	}
	if err != nil {
		return fmt.Errorf("opening checkpoint: %w", err)
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	var magic string
	var version int
	if err := dec.Decode(&magic); err != nil || magic != checkpointMagic {
		return fmt.Errorf("reading checkpoint %s: not a sentinel checkpoint", path)
	}
	if err := dec.Decode(&version); err != nil {
		return fmt.Errorf("reading checkpoint %s: %w", path, err)
	}
	if version != CheckpointVersion {
		return fmt.Errorf("reading checkpoint %s: version %d, this sentinel reads version %d (move the state directory aside to start afresh)", path, version, CheckpointVersion)
	}
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding checkpoint %s: %w", path, err)
	}
	return nil
}
