package ingest

import (
	"github.com/sentinel-project/sentinel/internal/testshared"

	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
)

// ptestFP computes a fingerprint independently of Fingerprint: the first
// 12 hex characters of the SHA-256 of the credential.
func ptestFP(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])[:12]
}

// ptestTok is the Credential expected for a raw token: fingerprint and
// last four characters.
func ptestTok(raw string) Credential {
	return Credential{FP: ptestFP(raw), Hint: raw[len(raw)-4:]}
}

// ptestKeyID is the Credential expected for a key id: no hint.
func ptestKeyID(id string) Credential {
	return Credential{FP: ptestFP(id)}
}

func ptestTime(h, m, s, ns int) time.Time {
	return time.Date(2024, time.May, 14, h, m, s, ns, time.UTC)
}

func ptestIP(s string) netip.Addr { return netip.MustParseAddr(s) }

// ptestDiff describes how got differs from want; empty when equal. The
// time must be the same instant and in UTC.
func ptestDiff(got, want Record) string {
	var d []string
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		d = append(d, fmt.Sprintf("time %v, want %v UTC", got.Time, want.Time))
	}
	gt, wt := got, want
	gt.Time, wt.Time = time.Time{}, time.Time{}
	if gt != wt {
		d = append(d, fmt.Sprintf("got  %+v\nwant %+v", gt, wt))
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

// ptestLines reads the lines of a file, keeping empty ones.
func ptestLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scanning %s: %v", path, err)
	}
	return lines
}

// ptestSharedDir returns ../shared/formats beside the module root, or
// skips the test when it is missing (fails instead under CI).
func ptestSharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t, "formats")
}

func ptestParser(t testing.TB, m Mapping, rules []PullRule) *Parser {
	t.Helper()
	p, err := NewParser(m, rules)
	if err != nil {
		t.Fatalf("NewParser: %v", err)
	}
	return p
}

func ptestPreset(t testing.TB, name string) Mapping {
	t.Helper()
	m, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ptestRun parses every line of a file and checks the accepted records,
// in order, and the reasons of the rejected lines, in order.
func ptestRun(t *testing.T, p *Parser, path string, want []Record, wantRejects []string) {
	t.Helper()
	var got []Record
	var rejects []string
	for i, line := range ptestLines(t, path) {
		var rec Record
		err := p.Parse(line, &rec)
		if err == nil {
			got = append(got, rec)
			continue
		}
		var le *LineError
		if !errors.As(err, &le) {
			t.Fatalf("line %d: error %v is not a *LineError", i+1, err)
		}
		if rec != (Record{}) {
			t.Errorf("line %d: rejected but record not reset: %+v", i+1, rec)
		}
		rejects = append(rejects, le.Reason)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records accepted, want %d (rejected: %v)", len(got), len(want), rejects)
	}
	for i := range want {
		if d := ptestDiff(got[i], want[i]); d != "" {
			t.Errorf("record %d: %s", i+1, d)
		}
	}
	if fmt.Sprint(rejects) != fmt.Sprint(wantRejects) {
		t.Errorf("rejected reasons %v, want %v", rejects, wantRejects)
	}
}
