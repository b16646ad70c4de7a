package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the file in a state directory that its owner holds locked.
const LockFile = "lock"

// ErrLocked is returned by Lock when another process holds the directory.
var ErrLocked = errors.New("state directory in use")

// Lock takes the state directory for this process until unlock is
// called or the process exits: two sentinels writing one checkpoint and
// one journal would each undo the other's work. The lock is an flock on
// dir/lock, which the kernel drops with the process, so a crash never
// leaves a stale lock behind; the file holds the owner's pid for the
// message a second process gets.
func Lock(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the state directory's lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by another sentinel (pid %s); give each instance its own state_dir",
				ErrLocked, dir, pidOf(owner))
		}
		return nil, fmt.Errorf("locking the state directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

func pidOf(owner []byte) string {
	if pid := strings.TrimSpace(string(owner)); pid != "" {
		return pid
	}
	return "unknown"
}
