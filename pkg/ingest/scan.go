package ingest

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// The line scanner is the parser's fast path for flat mappings, where
// every JSON path is one top-level key. It reads a line in one pass,
// keeping only the values of the keys the mapping names, instead of
// building fastjson's tree and looking each path up in it.
//
// It must never disagree with fastjson. It therefore accepts exactly
// fastjson's lenient grammar where it accepts anything (strings are not
// checked for control bytes or bad escapes; a number is any run of
// digits, '.', '+', '-', 'e' and 'E'), and it gives up, leaving the line
// to fastjson, on everything else: invalid JSON (which may still be
// repaired as Apache's), NaN and Inf, escaped keys (fastjson's lookup
// then depends on the order of lookups), deep nesting, NUL bytes, \x
// escapes, and a mapped key whose first value is an array, an object or a
// boolean. A key that appears twice keeps its first value, as fastjson's
// Object.Get does.

// scanMaxDepth bounds the nesting the scanner skips. It is far below
// fastjson.MaxDepth, so that no line the scanner accepts is one fastjson
// rejects for its depth.
const scanMaxDepth = 64

// scanSlot is what the scanner found for one mapped key.
type scanSlot struct {
	found bool
	kind  valKind
	esc   bool // the text is unescaped into lineScanner.buf, not in the line
	off   int
	end   int
}

// lineScanner holds the mapped top-level keys and, after scan, their
// values in the current line.
type lineScanner struct {
	keys  []string  // one per slot
	heads []keyHead // `"key":` of each slot, for the expected-key test
	slots []scanSlot
	// next is the slot after the last one matched: lines of one source
	// keep their keys in one order, so it is usually the next key.
	next int
	line []byte
	buf  []byte // unescaped string values
}

// newLineScanner returns a scanner for the path lists, assigning each path
// its slot, or nil when a path is not a single top-level key.
func newLineScanner(lists []*pathList) *lineScanner {
	s := &lineScanner{}
	for _, l := range lists {
		l.slots = make([]int, len(l.paths))
		for i, fp := range l.paths {
			l.slots[i] = -1
			if fp.query != "" {
				continue
			}
			if len(fp.keys) != 1 || !plainKey(fp.keys[0]) {
				return nil
			}
			l.slots[i] = s.slotOf(fp.keys[0])
		}
	}
	s.slots = make([]scanSlot, len(s.keys))
	for _, k := range s.keys {
		s.heads = append(s.heads, newKeyHead(`"`+k+`":`))
	}
	return s
}

// keyHead is the text `"key":` of a mapped key, with its first sixteen
// bytes as two little-endian words and masks, so that the expected key is
// recognised with two loads instead of a byte comparison.
type keyHead struct {
	text   string
	w, m   [2]uint64
	inWord bool // the text fits in the two words
}

func newKeyHead(text string) keyHead {
	h := keyHead{text: text, inWord: len(text) <= 16}
	for i := 0; i < len(text) && i < 16; i++ {
		h.w[i/8] |= uint64(text[i]) << (8 * (i % 8))
		h.m[i/8] |= 0xff << (8 * (i % 8))
	}
	return h
}

// at reports whether line holds the head at i.
func (h *keyHead) at(line []byte, i int) bool {
	if h.inWord && i+16 <= len(line) {
		w := line[i : i+16]
		return binary.LittleEndian.Uint64(w)&h.m[0] == h.w[0] &&
			binary.LittleEndian.Uint64(w[8:])&h.m[1] == h.w[1]
	}
	return bytes.HasPrefix(line[i:], []byte(h.text))
}

// plainKey reports whether a key can be matched by its bytes: fastjson
// unescapes keys, and the expected-key test needs a key that cannot end
// early or hide a NUL.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] < ' ' || k[i] == '"' || k[i] == '\\' {
			return false
		}
	}
	return true
}

func (s *lineScanner) slotOf(key string) int {
	for i, k := range s.keys {
		if k == key {
			return i
		}
	}
	s.keys = append(s.keys, key)
	return len(s.keys) - 1
}

// text returns the value found for a slot, as valueText would.
func (s *lineScanner) text(slot int) ([]byte, valKind) {
	v := &s.slots[slot]
	if v.kind == valAbsent { // also when the key was not found
		return nil, valAbsent
	}
	if v.esc {
		return s.buf[v.off:v.end], v.kind
	}
	return s.line[v.off:v.end], v.kind
}

// scan reads line, which must be one JSON object, and reports whether it
// could; false leaves the line to fastjson.
func (s *lineScanner) scan(line []byte) bool {
	s.line = line
	s.buf = s.buf[:0]
	s.next = 0
	clear(s.slots)
	i := skipJSONSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i, ok := s.object(line, i+1)
	if !ok {
		return false
	}
	return skipJSONSpace(line, i) == len(line)
}

// object reads the members of the top-level object after its '{'.
func (s *lineScanner) object(line []byte, i int) (int, bool) {
	i = skipJSONSpace(line, i)
	if i < len(line) && line[i] == '}' {
		return i + 1, true
	}
	for {
		slot, ok := -1, true
		i = skipJSONSpace(line, i)
		// The expected key is tested here, without a call.
		if n := s.next; n < len(s.heads) && s.heads[n].at(line, i) && !s.slots[n].found {
			slot, i = n, i+len(s.heads[n].text)
			s.next++
		} else if slot, i, ok = s.key(line, i); !ok {
			return 0, false
		}
		if slot >= 0 {
			i, ok = s.value(line, i, slot)
		} else {
			i, ok = skipValue(line, i, 1)
		}
		if !ok {
			return 0, false
		}
		i = skipJSONSpace(line, i)
		if i >= len(line) {
			return 0, false
		}
		switch line[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// key reads a member's key and colon from i and returns the key's slot
// (-1 for a key the mapping does not read or has already read) and the
// index after the colon.
func (s *lineScanner) key(line []byte, i int) (slot, next int, ok bool) {
	ks, ke, next, ok := scanKey(line, i)
	if !ok {
		return -1, 0, false
	}
	return s.match(line[ks:ke]), next, true
}

// scanKey reads `"key" :` from i, whitespace allowed around each part,
// and returns the bounds of the key and the index after the colon.
// Escaped keys are refused.
func scanKey(line []byte, i int) (start, end, next int, ok bool) {
	i = skipJSONSpace(line, i)
	if i >= len(line) || line[i] != '"' {
		return 0, 0, 0, false
	}
	start = i + 1
	end = plainRun(line, start)
	if end >= len(line) || line[end] != '"' {
		return 0, 0, 0, false
	}
	colon := skipJSONSpace(line, end+1)
	if colon >= len(line) || line[colon] != ':' {
		return 0, 0, 0, false
	}
	return start, end, colon + 1, true
}

// match returns the slot of a key seen for the first time on this line,
// or -1 for a key the mapping does not read or has already read.
func (s *lineScanner) match(key []byte) int {
	for i, k := range s.keys {
		if len(k) == len(key) && k[0] == key[0] && string(key) == k {
			if s.slots[i].found {
				return -1
			}
			s.next = i + 1
			return i
		}
	}
	return -1
}

// value reads the value of a mapped key starting at or after i.
func (s *lineScanner) value(line []byte, i, slot int) (int, bool) {
	i = skipJSONSpace(line, i)
	if i >= len(line) {
		return 0, false
	}
	v := &s.slots[slot]
	v.found = true
	switch c := line[i]; {
	case c == '"':
		// Most strings have no escape: take them here without a call.
		if end := plainRun(line, i+1); end < len(line) && line[end] == '"' {
			v.off, v.end = i+1, end
			if n := end - i - 1; n > 1 || (n == 1 && line[i+1] != '-') {
				v.kind = valString
			}
			return end + 1, true
		}
		return s.stringValue(line, i+1, v)
	case c == 'n':
		if !bytes.HasPrefix(line[i:], []byte("null")) {
			return 0, false
		}
		return i + 4, true
	case numChar[c]:
		end, ok := scanNumber(line, i)
		if !ok {
			return 0, false
		}
		v.kind, v.off, v.end = valNumber, i, end
		return end, true
	}
	return 0, false
}

// stringValue reads a string value whose content starts at i, decoding
// escapes as fastjson does. "" and "-" are absent.
func (s *lineScanner) stringValue(line []byte, i int, v *scanSlot) (int, bool) {
	end, escaped, ok := scanString(line, i)
	if !ok {
		return 0, false
	}
	raw := line[i:end]
	if escaped {
		if bytes.Contains(raw, []byte(`\x`)) {
			return 0, false
		}
		off := len(s.buf)
		s.buf = appendUnescaped(s.buf, raw)
		v.esc, v.off, v.end = true, off, len(s.buf)
	} else {
		v.off, v.end = i, end
	}
	if n := v.end - v.off; n > 0 && (n != 1 || s.byte0(v) != '-') {
		v.kind = valString
	}
	return end + 1, true
}

func (s *lineScanner) byte0(v *scanSlot) byte {
	if v.esc {
		return s.buf[v.off]
	}
	return s.line[v.off]
}

// scanString finds the closing quote of a string whose content starts at
// i. It refuses NUL bytes, which the parser rejects before fastjson sees
// them.
func scanString(line []byte, i int) (end int, escaped, ok bool) {
	for {
		i = plainRun(line, i)
		if i >= len(line) {
			return 0, false, false
		}
		switch line[i] {
		case '"':
			return i, escaped, true
		case '\\':
			if i+1 >= len(line) || line[i+1] == 0 {
				return 0, false, false
			}
			escaped = true
			i += 2
		default:
			return 0, false, false
		}
	}
}

// SWAR constants: one byte repeated across a word.
const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// plainRun returns the index of the first '"', '\\' or NUL at or after i,
// or len(line). It tests eight bytes at a time: for each byte of interest
// the word is XORed so that matches become zero bytes, and the classic
// has-zero-byte test marks them. That test can also mark bytes above a
// true zero, never below one, so the lowest mark is exact.
func plainRun(line []byte, i int) int {
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		q := w ^ ('"' * swarOnes)
		b := w ^ ('\\' * swarOnes)
		m := (q - swarOnes) &^ q
		m |= (b - swarOnes) &^ b
		m |= (w - swarOnes) &^ w
		if m &= swarHighs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(line) && !strStop[line[i]]; i++ {
	}
	return i
}

// scanNumber reads a number as fastjson does: the run of number
// characters. A run that is empty or a lone sign is where fastjson looks
// for Inf or NaN, which is left to it.
func scanNumber(line []byte, i int) (int, bool) {
	j := i
	for j < len(line) && numChar[line[j]] {
		j++
	}
	if j == i || (j == i+1 && (line[i] == '-' || line[i] == '+')) {
		return 0, false
	}
	return j, true
}

// skipValue checks and skips one value at or after i, depth levels down.
func skipValue(line []byte, i, depth int) (int, bool) {
	i = skipJSONSpace(line, i)
	if i >= len(line) {
		return 0, false
	}
	switch c := line[i]; {
	case c == '"':
		end, escaped, ok := scanString(line, i+1)
		if !ok || (escaped && bytes.Contains(line[i+1:end], []byte(`\x`))) {
			return 0, false
		}
		return end + 1, true
	case c == '{':
		return skipObject(line, i+1, depth+1)
	case c == '[':
		return skipArray(line, i+1, depth+1)
	case c == 't':
		return skipLiteral(line, i, "true")
	case c == 'f':
		return skipLiteral(line, i, "false")
	case c == 'n':
		return skipLiteral(line, i, "null")
	case numChar[c]:
		return scanNumber(line, i)
	}
	return 0, false
}

func skipLiteral(line []byte, i int, lit string) (int, bool) {
	if !bytes.HasPrefix(line[i:], []byte(lit)) {
		return 0, false
	}
	return i + len(lit), true
}

func skipObject(line []byte, i, depth int) (int, bool) {
	if depth > scanMaxDepth {
		return 0, false
	}
	i = skipJSONSpace(line, i)
	if i < len(line) && line[i] == '}' {
		return i + 1, true
	}
	for {
		_, _, next, ok := scanKey(line, i)
		if !ok {
			return 0, false
		}
		if i, ok = skipValue(line, next, depth); !ok {
			return 0, false
		}
		var closed bool
		if i, closed, ok = skipSeparator(line, i, '}'); !ok || closed {
			return i, ok
		}
	}
}

func skipArray(line []byte, i, depth int) (int, bool) {
	if depth > scanMaxDepth {
		return 0, false
	}
	i = skipJSONSpace(line, i)
	if i < len(line) && line[i] == ']' {
		return i + 1, true
	}
	for {
		var ok, closed bool
		if i, ok = skipValue(line, i, depth); !ok {
			return 0, false
		}
		if i, closed, ok = skipSeparator(line, i, ']'); !ok || closed {
			return i, ok
		}
	}
}

// skipSeparator reads the ',' or the closing byte after a member and
// returns the index after it and whether it closed the container.
func skipSeparator(line []byte, i int, closing byte) (next int, closed, ok bool) {
	i = skipJSONSpace(line, i)
	if i >= len(line) || (line[i] != ',' && line[i] != closing) {
		return 0, false, false
	}
	return i + 1, line[i] == closing, true
}

// skipJSONSpace skips the four bytes JSON, and fastjson, call whitespace.
func skipJSONSpace(line []byte, i int) int {
	for i < len(line) && line[i] <= ' ' && isSpace(line[i]) {
		i++
	}
	return i
}

// strStop marks the bytes that end a run of plain string content.
var strStop = [256]bool{'"': true, '\\': true, 0: true}

// numChar marks the bytes fastjson reads as part of a number.
var numChar = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'.': true, '-': true, '+': true, 'e': true, 'E': true,
}

// appendUnescaped appends the decoded content of a JSON string exactly as
// fastjson's best-effort unescaping reads it: unknown escapes and bad
// \u sequences stay as written, a lone surrogate keeps its \uXXXX text,
// and an invalid surrogate pair becomes U+FFFD.
func appendUnescaped(b, s []byte) []byte {
	n := bytes.IndexByte(s, '\\')
	if n < 0 {
		return append(b, s...)
	}
	b = append(b, s[:n]...)
	s = s[n+1:]
	for len(s) > 0 {
		ch := s[0]
		s = s[1:]
		if ch == 'u' {
			b, s = appendUnicodeEscape(b, s)
		} else {
			b = appendSimpleEscape(b, ch)
		}
		n = bytes.IndexByte(s, '\\')
		if n < 0 {
			return append(b, s...)
		}
		b = append(b, s[:n]...)
		s = s[n+1:]
	}
	return b
}

func appendSimpleEscape(b []byte, ch byte) []byte {
	switch ch {
	case '"', '\\', '/':
		return append(b, ch)
	case 'b':
		return append(b, '\b')
	case 'f':
		return append(b, '\f')
	case 'n':
		return append(b, '\n')
	case 'r':
		return append(b, '\r')
	case 't':
		return append(b, '\t')
	}
	return append(b, '\\', ch)
}

// appendUnicodeEscape decodes the \u escape whose hex digits start s and
// returns the rest of s.
func appendUnicodeEscape(b, s []byte) ([]byte, []byte) {
	x, ok := hex4(s)
	if !ok {
		return append(b, `\u`...), s
	}
	xs := s[:4]
	s = s[4:]
	if !utf16.IsSurrogate(rune(x)) {
		return utf8.AppendRune(b, rune(x)), s
	}
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return append(append(b, `\u`...), xs...), s
	}
	x1, ok := hex4(s[2:])
	if !ok {
		return append(append(b, `\u`...), xs...), s
	}
	return utf8.AppendRune(b, utf16.DecodeRune(rune(x), rune(x1))), s[6:]
}

// hex4 reads four hex digits from the start of s.
func hex4(s []byte) (uint16, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var x uint16
	for _, c := range s[:4] {
		if !isHex(c) {
			return 0, false
		}
		x = x<<4 | uint16(unhex(c))
	}
	return x, true
}
