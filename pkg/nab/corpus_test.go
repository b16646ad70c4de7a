package nab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A repeated timestamp, as a few NAB series have, is kept as its own row;
// a window edge at it is the first of them.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "labels", "combined_windows.json"), `{
		"cat/a.csv": [["2014-01-01 00:01:00.000000", "2014-01-01 00:02:00.000000"]],
		"cat/b.csv": []}`)
	writeFile(t, filepath.Join(dir, "data", "cat", "a.csv"), "timestamp,value\n"+
		"2014-01-01 00:00:00,1\n2014-01-01 00:01:00,2.5\n2014-01-01 00:02:00,3\n2014-01-01 00:02:00,4\n")
	writeFile(t, filepath.Join(dir, "data", "cat", "b.csv"), "timestamp,value\n2014-01-01 00:00:00,7\n")
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Series) != 2 || c.Rows() != 5 {
		t.Fatalf("loaded %d series of %d rows, want 2 of 5", len(c.Series), c.Rows())
	}
	a := c.Series[0]
	if a.Name != "cat/a.csv" || a.Floats[1] != 2.5 || a.Values[1] != "2.5" {
		t.Errorf("series a is %+v", a)
	}
	if len(a.Windows) != 1 || a.Windows[0] != (Window{1, 2}) {
		t.Errorf("windows of a %v, want rows 1 to 2", a.Windows)
	}
}

func TestLoadNamesTheFault(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "labels", "combined_windows.json"), `{"cat/a.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:06:00.000000"]]}`)
	writeFile(t, filepath.Join(dir, "data", "cat", "a.csv"), "timestamp,value\n2014-01-01 00:00:00,1\n")
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "no row at the window edge 2014-01-01 00:05:00") {
		t.Errorf("err = %v, want it to name the edge with no row", err)
	}
	writeFile(t, filepath.Join(dir, "data", "cat", "a.csv"), "timestamp,value\n2014-01-01 00:00:00,x\n")
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), "a.csv: row 1") {
		t.Errorf("err = %v, want it to name the file and row", err)
	}
}
