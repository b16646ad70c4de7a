package ingest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Time layout names accepted in TimeField.Layout. Any other value is a Go
// reference layout such as "2006-01-02 15:04:05.000 -0700".
const (
	LayoutAuto    = "auto"
	LayoutUnix    = "unix"
	LayoutUnixMs  = "unix_ms"
	LayoutUnixUs  = "unix_us"
	LayoutUnixNs  = "unix_ns"
	LayoutRFC3339 = "rfc3339"
	LayoutCLF     = "clf"
)

// timeKind says how a timeDecoder reads a value.
type timeKind uint8

const (
	timeAuto timeKind = iota
	timeEpoch
	timeISO
	timeCLF
	timeGo
)

// maxUnixSec is the end of year 9999: later event times are rejected, so
// that a huge number cannot become a time no window will ever close.
const maxUnixSec = 253402300799

var (
	errTimeSyntax = errors.New("unrecognised time syntax")
	errTimeRange  = errors.New("time out of range")
)

// timeDecoder turns the value of a time field into a UTC time.
type timeDecoder struct {
	kind timeKind
	// unit is nanoseconds per epoch unit; 0 means decide by magnitude.
	unit   int64
	layout string
}

// newTimeDecoder builds the decoder for a TimeField.Layout value.
func newTimeDecoder(layout string) (timeDecoder, error) {
	switch layout {
	case "", LayoutAuto:
		return timeDecoder{kind: timeAuto}, nil
	case LayoutUnix:
		return timeDecoder{kind: timeEpoch, unit: 1e9}, nil
	case LayoutUnixMs:
		return timeDecoder{kind: timeEpoch, unit: 1e6}, nil
	case LayoutUnixUs:
		return timeDecoder{kind: timeEpoch, unit: 1e3}, nil
	case LayoutUnixNs:
		return timeDecoder{kind: timeEpoch, unit: 1}, nil
	case LayoutRFC3339:
		return timeDecoder{kind: timeISO}, nil
	case LayoutCLF:
		return timeDecoder{kind: timeCLF}, nil
	}
	if err := checkGoLayout(layout); err != nil {
		return timeDecoder{}, err
	}
	return timeDecoder{kind: timeGo, layout: layout}, nil
}

// checkGoLayout rejects strings that are not usable Go reference layouts:
// formatting a time with the layout and parsing it back must give the
// same instant, to the second.
func checkGoLayout(layout string) error {
	ref := time.Date(2024, time.May, 14, 9, 21, 7, 0, time.UTC)
	back, err := time.Parse(layout, ref.Format(layout))
	if err != nil || !back.Equal(ref) {
		return fmt.Errorf("layout %q is neither one of auto, unix, unix_ms, unix_us, unix_ns, rfc3339, clf "+
			"nor a Go reference layout holding a full date and time such as \"2006-01-02 15:04:05\"", layout)
	}
	return nil
}

// decode reads b, the text of a JSON number (number true) or the content
// of a JSON string.
func (d timeDecoder) decode(b []byte, number bool) (time.Time, error) {
	switch d.kind {
	case timeEpoch:
		return parseEpoch(b, d.unit)
	case timeISO:
		return parseISOTime(b)
	case timeCLF:
		return parseCLFTime(b)
	case timeGo:
		t, err := time.Parse(d.layout, string(b))
		if err != nil {
			return time.Time{}, errTimeSyntax
		}
		return t.UTC(), nil
	}
	if number || looksNumeric(b) {
		return parseEpoch(b, 0)
	}
	if len(b) > 4 && b[4] == '-' {
		return parseISOTime(b)
	}
	if len(b) > 2 && b[2] == '/' {
		return parseCLFTime(b)
	}
	return time.Time{}, errTimeSyntax
}

// looksNumeric reports whether b starts like an epoch number.
func looksNumeric(b []byte) bool {
	return len(b) > 0 && isDigit(b[0]) && (len(b) < 5 || b[4] != '-') && (len(b) < 3 || b[2] != '/')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseEpoch reads a decimal epoch time. unit is nanoseconds per unit, or 0
// to decide by magnitude: below 1e11 seconds, below 1e14 milliseconds,
// below 1e17 microseconds, else nanoseconds. The integer and fraction are
// read exactly, so 1715678467.204356 is 204356 µs, not a float rounding.
func parseEpoch(b []byte, unit int64) (time.Time, error) {
	ip, frac, rest, err := splitDecimal(b)
	if err != nil {
		return time.Time{}, err
	}
	if len(rest) > 0 {
		return parseEpochFloat(b, unit)
	}
	if unit == 0 {
		unit = epochUnit(ip)
	}
	return epochTime(ip, frac, unit)
}

// splitDecimal reads digits[.digits] from b. frac is the fraction scaled to
// nine digits. rest is what follows (an exponent, or garbage).
func splitDecimal(b []byte) (ip uint64, frac int64, rest []byte, err error) {
	i := 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		if i >= 19 {
			return 0, 0, nil, errTimeRange
		}
		ip = ip*10 + uint64(b[i]-'0')
	}
	if i == 0 {
		return 0, 0, nil, errTimeSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		scale := int64(1e8)
		for ; i < len(b) && isDigit(b[i]); i++ {
			frac += int64(b[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return 0, 0, nil, errTimeSyntax
		}
	}
	return ip, frac, b[i:], nil
}

func epochUnit(ip uint64) int64 {
	switch {
	case ip < 1e11:
		return 1e9
	case ip < 1e14:
		return 1e6
	case ip < 1e17:
		return 1e3
	}
	return 1
}

// epochTime builds the time ip.frac units after the epoch; frac is the
// fraction of one unit scaled to 1e9.
func epochTime(ip uint64, frac int64, unit int64) (time.Time, error) {
	perSec := uint64(1e9 / unit)
	sec := ip / perSec
	if sec > maxUnixSec {
		return time.Time{}, errTimeRange
	}
	nsec := int64(ip%perSec)*unit + frac/(1e9/unit)
	return time.Unix(int64(sec), nsec).UTC(), nil
}

// parseEpochFloat handles exponent notation, which no common source writes
// but JSON allows.
func parseEpochFloat(b []byte, unit int64) (time.Time, error) {
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || v < 0 {
		return time.Time{}, errTimeSyntax
	}
	if v >= 1e19 {
		return time.Time{}, errTimeRange
	}
	ip := math.Floor(v)
	frac := int64(math.Round((v - ip) * 1e9))
	if unit == 0 {
		unit = epochUnit(uint64(ip))
	}
	return epochTime(uint64(ip), min(frac, 999999999), unit)
}

// timeScanner reads fixed-width fields of a timestamp.
type timeScanner struct {
	b   []byte
	i   int
	bad bool
}

// num reads exactly n digits.
func (s *timeScanner) num(n int) int {
	if s.i+n > len(s.b) {
		s.bad = true
		return 0
	}
	v := 0
	for _, c := range s.b[s.i : s.i+n] {
		if !isDigit(c) {
			s.bad = true
			return 0
		}
		v = v*10 + int(c-'0')
	}
	s.i += n
	return v
}

// lit consumes one byte that must be one of set.
func (s *timeScanner) lit(set string) {
	if s.i >= len(s.b) {
		s.bad = true
		return
	}
	for j := 0; j < len(set); j++ {
		if s.b[s.i] == set[j] {
			s.i++
			return
		}
	}
	s.bad = true
}

// fraction reads an optional ".digits" or ",digits" as nanoseconds.
func (s *timeScanner) fraction() int {
	if s.i >= len(s.b) || (s.b[s.i] != '.' && s.b[s.i] != ',') {
		return 0
	}
	s.i++
	start, ns, scale := s.i, 0, int(1e8)
	for ; s.i < len(s.b) && isDigit(s.b[s.i]); s.i++ {
		ns += int(s.b[s.i]-'0') * scale
		scale /= 10
	}
	if s.i == start {
		s.bad = true
	}
	return ns
}

// zone reads an optional zone: Z, ±hh:mm, ±hhmm or ±hh, optionally after
// one space. No zone means UTC. It returns the offset east of UTC.
func (s *timeScanner) zone() time.Duration {
	if s.i < len(s.b) && s.b[s.i] == ' ' {
		s.i++
	}
	if s.i >= len(s.b) {
		return 0
	}
	c := s.b[s.i]
	if c == 'Z' || c == 'z' {
		s.i++
		return 0
	}
	if c != '+' && c != '-' {
		s.bad = true
		return 0
	}
	s.i++
	h, m := s.num(2), 0
	if s.i < len(s.b) && s.b[s.i] == ':' {
		s.i++
	}
	if s.i < len(s.b) {
		m = s.num(2)
	}
	if h > 23 || m > 59 {
		s.bad = true
	}
	off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if c == '-' {
		off = -off
	}
	return off
}

// build checks ranges and returns the UTC time. It computes the epoch
// seconds directly because time.Date costs more than the whole scan.
func (s *timeScanner) build(y int, mo time.Month, d, h, mi, sec, ns int, off time.Duration) (time.Time, error) {
	if s.bad || s.i != len(s.b) {
		return time.Time{}, errTimeSyntax
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 60 {
		return time.Time{}, errTimeRange
	}
	unix := daysSinceEpoch(y, int(mo), d)*86400 + int64(h*3600+mi*60+sec) - int64(off/time.Second)
	return time.Unix(unix, int64(ns)).UTC(), nil
}

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func daysIn(y int, m time.Month) int {
	if m == time.February && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return monthDays[m]
}

// daysSinceEpoch returns the days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseISOTime reads RFC 3339 and its common relaxations:
// "YYYY-MM-DD[T ]hh:mm:ss[.frac][zone]" where zone is Z, ±hh:mm, ±hhmm
// (Apache's %z), ±hh or absent (UTC).
func parseISOTime(b []byte) (time.Time, error) {
	s := timeScanner{b: b}
	y := s.num(4)
	s.lit("-")
	mo := s.num(2)
	s.lit("-")
	d := s.num(2)
	s.lit("Tt ")
	h := s.num(2)
	s.lit(":")
	mi := s.num(2)
	s.lit(":")
	sec := s.num(2)
	ns := s.fraction()
	off := s.zone()
	return s.build(y, time.Month(mo), d, h, mi, sec, ns, off)
}

var monthAbbr = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// month reads a three-letter English month name, in any case.
func (s *timeScanner) month() time.Month {
	if s.i+3 > len(s.b) {
		s.bad = true
		return 0
	}
	var m [3]byte
	for j := range m {
		m[j] = s.b[s.i+j] | 0x20
	}
	s.i += 3
	for j, name := range monthAbbr {
		if string(m[:]) == name {
			return time.Month(j + 1)
		}
	}
	s.bad = true
	return 0
}

// parseCLFTime reads the common log format time
// "dd/Mon/yyyy:hh:mm:ss[.frac][ ±hhmm]"; without a zone (HAProxy's %tr)
// the time is taken as UTC.
func parseCLFTime(b []byte) (time.Time, error) {
	s := timeScanner{b: b}
	d := s.num(2)
	s.lit("/")
	mo := s.month()
	s.lit("/")
	y := s.num(4)
	s.lit(":")
	h := s.num(2)
	s.lit(":")
	mi := s.num(2)
	s.lit(":")
	sec := s.num(2)
	ns := s.fraction()
	off := s.zone()
	return s.build(y, mo, d, h, mi, sec, ns, off)
}
