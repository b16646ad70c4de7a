package ingest

import (
	"testing"
	"time"
)

func TestTimeDecoderAuto(t *testing.T) {
	base := time.Date(2024, time.May, 14, 9, 21, 7, 0, time.UTC)
	cases := []struct {
		in     string
		number bool
		want   time.Time
	}{
		{"1715678467", true, base},
		{"1715678467.204356", true, base.Add(204356 * time.Microsecond)},
		{"1715678467204", true, base.Add(204 * time.Millisecond)},
		{"1715678467204.356", true, base.Add(204356 * time.Microsecond)}, // unix_milli_float
		{"1715678467204356", true, base.Add(204356 * time.Microsecond)},
		{"1715678467204356789", true, base.Add(204356789)},
		{"1715678467.204", false, base.Add(204 * time.Millisecond)}, // nginx $msec string
		{"1715678467204", false, base.Add(204 * time.Millisecond)},  // API Gateway epoch string
		{"2024-05-14T09:21:07Z", false, base},
		{"2024-05-14T09:21:07.204355872Z", false, base.Add(204355872)},
		{"2024-05-14T11:21:07.900+02:00", false, base.Add(900 * time.Millisecond)},
		{"2024-05-14T09:21:07+00:00", false, base},
		{"2024-05-14T09:21:07.204+0000", false, base.Add(204 * time.Millisecond)},
		{"2024-05-14T04:21:07-0500", false, base},
		{"2024-05-14T10:21:07+01", false, base},
		{"2024-05-14 09:21:07", false, base},
		{"2024-05-14t09:21:07z", false, base},
		{"2024-05-14T09:21:07.1234567891Z", false, base.Add(123456789)},
		{"14/May/2024:09:21:07 +0000", false, base},
		{"14/may/2024:11:21:07 +0200", false, base},
		{"14/May/2024:09:21:07.204", false, base.Add(204 * time.Millisecond)},
		{"2024-02-29T00:00:00Z", false, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"1969-12-31T23:59:59Z", false, time.Unix(-1, 0)},
		{"2000-03-01T00:00:00Z", false, time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	dec, err := newTimeDecoder("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		got, err := dec.decode([]byte(tc.in), tc.number)
		if err != nil {
			t.Errorf("decode(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("decode(%q) = %v, want %v UTC", tc.in, got, tc.want)
		}
	}
}

func TestTimeDecoderRejects(t *testing.T) {
	dec, _ := newTimeDecoder(LayoutAuto)
	for _, in := range []string{
		"", "abc", "1715678467.", ".5", "17156784671234567890123", "1e400", "-1",
		"2024-05-14", "2024-05-14T09:21", "2024-05-14T24:00:00Z", "2024-05-14T09:60:00Z",
		"2023-02-29T00:00:00Z", "2024-05-14T09:21:07+2400", "2024-05-14T09:21:07 junk",
		"2024-05-14T09:21:07.Z", "14/Foo/2024:09:21:07 +0000", "14/May/2024 09:21:07",
		"99999-05-14T09:21:07Z", "1e300",
	} {
		if got, err := dec.decode([]byte(in), false); err == nil {
			t.Errorf("decode(%q) = %v, want an error", in, got)
		}
	}
}

func TestTimeDecoderLayouts(t *testing.T) {
	base := time.Date(2024, time.May, 14, 9, 21, 7, 0, time.UTC)
	cases := []struct{ layout, in string }{
		{LayoutUnix, "1715678467"},
		{LayoutUnixMs, "1715678467000"},
		{LayoutUnixUs, "1715678467000000"},
		{LayoutUnixNs, "1715678467000000000"},
		{LayoutUnixMs, "1715678467000.0"},
		{LayoutRFC3339, "2024-05-14T09:21:07Z"},
		{LayoutCLF, "14/May/2024:09:21:07 +0000"},
		{"02.01.2006 15:04:05 MST", "14.05.2024 09:21:07 UTC"},
		{"2006-01-02T15:04:05-0700", "2024-05-14T11:21:07+0200"},
	}
	for _, tc := range cases {
		dec, err := newTimeDecoder(tc.layout)
		if err != nil {
			t.Fatalf("layout %q: %v", tc.layout, err)
		}
		got, err := dec.decode([]byte(tc.in), false)
		if err != nil || !got.Equal(base) || got.Location() != time.UTC {
			t.Errorf("layout %q decode(%q) = %v, %v, want %v", tc.layout, tc.in, got, err, base)
		}
	}
	// An explicit unit is not second-guessed by magnitude.
	dec, _ := newTimeDecoder(LayoutUnixMs)
	if got, _ := dec.decode([]byte("1715678467"), true); !got.Equal(time.UnixMilli(1715678467)) {
		t.Errorf("unix_ms 1715678467 = %v", got)
	}
}

func TestTimeDecoderBadLayout(t *testing.T) {
	for _, l := range []string{"unix_s", "15:04", "nonsense"} {
		if _, err := newTimeDecoder(l); err == nil {
			t.Errorf("layout %q accepted", l)
		}
	}
}
