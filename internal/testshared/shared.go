// Package testshared locates the data shared beside the project (../shared
// from the module root: log-format samples, outlier and anomaly
// benchmarks) for tests. On a user's clone it is usually absent and the
// tests that need it skip, saying so; CI sets SENTINEL_REQUIRE_SHARED=1 so
// that there a missing folder fails instead of passing silently.
package testshared

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of ../shared/sub, or ends the test.
func Dir(tb testing.TB, sub string) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("finding the module root: %v", err)
	}
	dir := filepath.Join(filepath.Dir(root), "shared", sub)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if os.Getenv("SENTINEL_REQUIRE_SHARED") != "" {
		tb.Fatalf("%s is missing; this run requires it (SENTINEL_REQUIRE_SHARED is set)", dir)
	}
	tb.Skipf("skipped: needs %s (the shared data folder beside the project)", dir)
	return ""
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
