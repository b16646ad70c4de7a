package state

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestLockKeepsASecondProcessOut takes the lock here, then has a child
// process (this test binary again) try: it must be refused with this
// process's pid, and succeed once the lock is released.
func TestLockKeepsASecondProcessOut(t *testing.T) {
	if dir := os.Getenv("SENTINEL_LOCK_CHILD"); dir != "" {
		unlock, err := Lock(dir)
		if err != nil {
			os.Stdout.WriteString(err.Error())
			os.Exit(3)
		}
		unlock()
		os.Exit(0)
	}
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockKeepsASecondProcessOut$")
		cmd.Env = append(os.Environ(), "SENTINEL_LOCK_CHILD="+dir)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := child()
	if code != 3 || !strings.Contains(out, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(out, "state directory in use") {
		t.Fatalf("second process: exit %d, %q; want refused, naming pid %d", code, out, os.Getpid())
	}
	unlock()
	if out, code := child(); code != 0 {
		t.Fatalf("after unlock, second process: exit %d, %q; want the lock", code, out)
	}
}
