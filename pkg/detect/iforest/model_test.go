package iforest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"
)

func testMeta(dims int) Meta {
	m := Meta{}
	for j := range dims {
		m.Features = append(m.Features, "f"+string(rune('a'+j)))
		m.Offset = append(m.Offset, float64(j))
		m.Scale = append(m.Scale, 1+float64(j)/2)
	}
	m.Threshold = 0.625
	return m
}

func save(t testing.TB, f *Forest, m Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Save(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	X := gaussian(11, 2000, 4)
	for _, v := range append(benchVariants, struct {
		name string
		opts Options
	}{"level 1", Options{Extended: true, ExtensionLevel: 1}}) {
		f := fit(t, v.opts, X)
		meta := testMeta(4)
		data := save(t, f, meta)
		g, got, err := Load(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		meta.Rows, meta.TrainedAt = len(X), f.at
		if !reflect.DeepEqual(got, meta) {
			t.Errorf("%s: meta %+v, want %+v", v.name, got, meta)
		}
		want, _ := f.Scores(X)
		have, _ := g.Scores(X)
		if !reflect.DeepEqual(want, have) {
			t.Errorf("%s: the loaded forest scores differently", v.name)
		}
		if again := save(t, g, got); !bytes.Equal(again, data) {
			t.Errorf("%s: saving the loaded forest changed the file", v.name)
		}
		t.Logf("%s: %d bytes for %d trees", v.name, len(data), len(f.trees))
	}
}

// TestSaveLoadOneFeature covers the one-component hyperplanes of an
// extended forest on a single feature.
func TestSaveLoadOneFeature(t *testing.T) {
	X := gaussian(17, 300, 1)
	f := fit(t, Options{Extended: true}, X)
	g, _, err := Load(bytes.NewReader(save(t, f, Meta{Features: []string{"x"}})))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := f.Score([]float64{4}), g.Score([]float64{4}); a != b || a < 0.6 {
		t.Errorf("x = 4 scores %v before saving and %v after; want equal and above 0.6", a, b)
	}
}

func TestSaveRejects(t *testing.T) {
	f := fit(t, Options{Trees: 2}, gaussian(12, 50, 3))
	bad := []Meta{
		{Features: []string{"a", "b"}},
		{Features: []string{"a", "b", "c"}, Offset: []float64{1, 2, 3}},
		{Features: []string{"a", "b", "c"}, Offset: []float64{1}, Scale: []float64{1}},
		{Features: []string{"a", strings.Repeat("x", maxNameLen+1), "c"}},
		{Features: []string{"a", "b", "c"}, Threshold: 1.5},
		{Features: []string{"a", "b", "c"}, Threshold: math.NaN()},
	}
	for i, m := range bad {
		if err := f.Save(&bytes.Buffer{}, m); err == nil {
			t.Errorf("meta %d was saved", i)
		}
	}
	if err := New(Options{}).Save(&bytes.Buffer{}, Meta{}); err == nil {
		t.Error("an unfitted forest was saved")
	}
}

func TestLoadRefusesOtherVersion(t *testing.T) {
	data := save(t, fit(t, Options{Trees: 3}, gaussian(13, 100, 2)), testMeta(2))
	binary.LittleEndian.PutUint16(data[8:], FormatVersion+1)
	_, _, err := Load(bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("Load of a version 2 file: %v", err)
	}
	copy(data, "NOTMODEL")
	if _, _, err := Load(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "not an isolation forest") {
		t.Errorf("Load of a file with another magic: %v", err)
	}
}

// TestLoadDamaged cuts the file at every length and flips every byte: each
// must be refused, none may panic.
func TestLoadDamaged(t *testing.T) {
	data := save(t, fit(t, Options{Trees: 3, SampleSize: 16, Extended: true}, gaussian(14, 100, 3)), testMeta(3))
	for n := range len(data) {
		if _, _, err := Load(bytes.NewReader(data[:n])); err == nil {
			t.Fatalf("a file cut at %d of %d bytes loaded", n, len(data))
		}
	}
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x5a
		if _, _, err := Load(bytes.NewReader(bad)); err == nil {
			t.Fatalf("a file with byte %d changed loaded", i)
		}
	}
}

// TestLoadChecksStructure gives Load files whose checksum is right but
// whose trees would send a walk out of bounds.
func TestLoadChecksStructure(t *testing.T) {
	f := fit(t, Options{Trees: 1, SampleSize: 8}, gaussian(15, 8, 2))
	data := save(t, f, testMeta(2))
	nodes := len(data) - 4 - 16*len(f.trees[0].nodes) // first node's offset
	corrupt := []struct {
		name  string
		off   int
		value uint32
	}{
		{"feature out of range", nodes, 2},
		{"right child backwards", nodes + 4, 0},
		{"right child past the end", nodes + 4, 1000},
		{"leaf marker other than -1", nodes, math.MaxUint32 - 1},
	}
	for _, c := range corrupt {
		bad := bytes.Clone(data)
		binary.LittleEndian.PutUint32(bad[c.off:], c.value)
		binary.LittleEndian.PutUint32(bad[len(bad)-4:], crc32.ChecksumIEEE(bad[:len(bad)-4]))
		if _, _, err := Load(bytes.NewReader(bad)); err == nil {
			t.Errorf("%s: loaded", c.name)
		}
	}
}

func TestCheckFeatures(t *testing.T) {
	m := Meta{Features: []string{"msgs", "bytes", "reqs"}}
	tests := []struct {
		names []string
		want  []string // fragments of the error; none means no error
	}{
		{[]string{"msgs", "bytes", "reqs"}, nil},
		{[]string{"msgs", "bytes"}, []string{`missing ["reqs"]`}},
		{[]string{"msgs", "bytes", "reqs", "addrs"}, []string{`"addrs"`}},
		{[]string{"msgs", "octets", "reqs"}, []string{`"bytes"`, `"octets"`}},
		{[]string{"bytes", "msgs", "reqs"}, []string{"order", `feature 0 is "msgs"`}},
		{[]string{"msgs", "bytes", "reqs", "reqs"}, []string{"repeated"}},
	}
	for _, tc := range tests {
		err := m.CheckFeatures(tc.names)
		if (err == nil) != (tc.want == nil) {
			t.Errorf("%q: error %v", tc.names, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %s", tc.names, err, w)
			}
		}
	}
}

// FuzzLoad feeds Load arbitrary bytes, both as they are and with a valid
// checksum appended so that the structural checks behind it are reached.
// A forest that loads must score any vector finitely.
func FuzzLoad(f *testing.F) {
	for _, o := range []Options{{Trees: 2, SampleSize: 8}, {Trees: 2, SampleSize: 8, Extended: true}} {
		fo := New(o)
		if err := fo.Fit(gaussian(16, 20, 2)); err != nil {
			f.Fatal(err)
		}
		data := save(f, fo, testMeta(2))
		f.Add(data[:len(data)-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		Load(bytes.NewReader(body))
		signed := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.ChecksumIEEE(body))
		g, _, err := Load(bytes.NewReader(signed))
		if err != nil {
			return
		}
		x := make([]float64, g.Dims())
		for _, v := range []float64{0, math.NaN(), math.Inf(1), -1e300} {
			for j := range x {
				x[j] = v
			}
			if s := g.Score(x); !(s > 0 && s <= 1) {
				t.Fatalf("a loaded forest scores %v", s)
			}
		}
	})
}
