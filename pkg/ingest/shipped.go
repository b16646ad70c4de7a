package ingest

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendShipped appends r to dst as one line of the shipped format
// (FormatShipped), without the newline, and returns the extended slice:
//
//	{"ts":"2024-05-14T09:21:07.204356Z","fp":"3f2a9c0b1d4e","hint":"9f3a",
//	 "ip":"198.51.100.23","method":"GET","path":"/messages?count=500",
//	 "status":200,"bytes":48213,"messages":500,"ua":"curl/8.5.0"}
//
// ts is RFC 3339 in UTC with as many fraction digits as the time needs,
// up to nanoseconds. fp, hint, ip, method, path and ua are left out when
// empty; status, bytes and messages are always written; weight only when
// it is not 1. Parsing the line with the shipped preset gives r back,
// except that bytes of a string that are not UTF-8 are written as
// U+FFFD, so that every consumer can read the line as JSON.
//
// It is written by hand rather than through encoding/json because every
// request shipped goes through it, and reflection would cost more than
// the rest of the shipper's work on a line.
func AppendShipped(dst []byte, r *Record) []byte {
	dst = append(dst, `{"ts":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendStringField(dst, "fp", r.Cred.FP)
	dst = appendStringField(dst, "hint", r.Cred.Hint)
	if r.IP.IsValid() {
		dst = append(dst, `,"ip":`...)
		if r.IP.Zone() == "" {
			// Digits, dots, hex and colons: nothing to escape.
			dst = append(r.IP.AppendTo(append(dst, '"')), '"')
		} else {
			dst = appendJSONString(dst, r.IP.String())
		}
	}
	dst = appendStringField(dst, "method", r.Method)
	dst = appendStringField(dst, "path", r.Path)
	dst = strconv.AppendInt(append(dst, `,"status":`...), int64(r.Status), 10)
	dst = strconv.AppendInt(append(dst, `,"bytes":`...), r.Bytes, 10)
	dst = strconv.AppendInt(append(dst, `,"messages":`...), r.Messages, 10)
	dst = appendStringField(dst, "ua", r.UA)
	// A zero weight is a Record built without one, which means 1.
	if w := r.Weight; w != 1 && w != 0 {
		// The shortest form that parses back to exactly w.
		dst = strconv.AppendFloat(append(dst, `,"weight":`...), w, 'g', -1, 64)
	}
	return append(dst, '}')
}

// appendStringField appends ,"name":"value" unless value is empty.
func appendStringField(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(append(append(dst, ',', '"'), name...), '"', ':')
	return appendJSONString(dst, value)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, bytes that are not UTF-8 replaced by
// U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = appendJSONByte(append(dst, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(append(dst, s[start:]...), '"')
}
