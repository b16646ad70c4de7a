package nab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteResultsLayout(t *testing.T) {
	s := testSeries("realTweets/Twitter_volume_X.csv", 2)
	s.Values[1] = "12.50"
	dir := t.TempDir()
	if err := WriteResults(dir, &Corpus{Series: []*Series{s}}, "windowed_gaussian", [][]float64{{0, 0.25}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "windowed_gaussian", "realTweets", "windowed_gaussian_Twitter_volume_X.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "timestamp,value,anomaly_score\n2014-01-01 00:00:00,0,0\n2014-01-01 00:01:00,12.50,0.25\n"
	if string(b) != want {
		t.Errorf("results file:\n%s\nwant:\n%s", b, want)
	}
}

func TestLookup(t *testing.T) {
	ds, err := Lookup("windowed_gaussian")
	if err != nil || len(ds) != 1 || ds[0].Name() != "windowed_gaussian" {
		t.Errorf("Lookup = %v, %v", ds, err)
	}
	if _, err := Lookup("windowed_gaussian,nope"); err == nil {
		t.Error("an unknown detector was accepted")
	}
}
