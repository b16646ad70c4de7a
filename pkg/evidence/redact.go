package evidence

import "bytes"

// Redact returns line with every occurrence of token replaced by fp, the
// token's fingerprint. An occurrence is found however the log wrote it:
// as is (in a JSON field, a header, after "Bearer "), percent-encoded in
// a query string or path (any byte as %XX, upper or lower case, mixed
// with plain bytes), or JSON-escaped (a byte as \u00XX, "/" as "\/").
// Occurrences inside a longer value are replaced too: what must never be
// kept is the token's characters, wherever they are.
//
// Other encodings (base64 in a Basic header, double percent-encoding)
// are not recognised; a log format that writes them should not be kept
// as evidence. A token shorter than minToken bytes is not searched for,
// since it would match ordinary text; such tokens are key ids, not
// secrets.
func Redact(line []byte, token, fp string) []byte {
	if len(token) < minToken {
		return line
	}
	var out []byte
	last := 0
	for i := 0; i < len(line); {
		n := matchAt(line, i, token)
		if n == 0 {
			i++
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(line))
		}
		out = append(out, line[last:i]...)
		out = append(out, fp...)
		i += n
		last = i
	}
	if out == nil {
		return line
	}
	return append(out, line[last:]...)
}

// minToken is the shortest credential Redact searches for.
const minToken = 4

// matchAt returns the length of the encoding of token that starts at
// line[i], or 0 when none does.
func matchAt(line []byte, i int, token string) int {
	j := i
	for k := 0; k < len(token); k++ {
		n := byteAt(line[j:], token[k])
		if n == 0 {
			return 0
		}
		j += n
	}
	return j - i
}

// byteAt returns how many bytes at the start of s encode b: 1 for b
// itself, 3 for %XX, 6 for \u00XX, 2 for \/; 0 when s does not start
// with an encoding of b.
func byteAt(s []byte, b byte) int {
	switch {
	case len(s) == 0:
		return 0
	case s[0] == b:
		return 1
	case s[0] == '%' && len(s) >= 3 && hexByte(s[1], s[2]) == int(b):
		return 3
	case s[0] == '\\' && len(s) >= 2 && s[1] == b && b == '/':
		return 2
	case s[0] == '\\' && len(s) >= 6 && s[1] == 'u' && bytes.Equal(s[2:4], []byte("00")) && hexByte(s[4], s[5]) == int(b):
		return 6
	}
	return 0
}

// hexByte returns the byte two hex digits (either case) encode, or -1.
func hexByte(hi, lo byte) int {
	h, l := unhex(hi), unhex(lo)
	if h < 0 || l < 0 {
		return -1
	}
	return h<<4 | l
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
