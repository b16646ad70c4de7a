package gen

import "strconv"

// format appends the canonical lines of minute m's sorted events to
// g.out. It appends by hand because encoding/json or fmt per line would
// be most of the generator's time; every string it writes comes from
// the model and needs no escaping.
func (g *generator) format(m int) {
	var prefix [32]byte
	// RFC3339 up to the minute, shared by every line of the minute.
	p := g.at(m).AppendFormat(prefix[:0], "2006-01-02T15:04:")
	b := g.out
	for i := range g.events {
		b = appendLine(b, p, &g.events[i])
	}
	g.out = b
}

func appendLine(b, prefix []byte, e *event) []byte {
	ms := int(e.at % msPerMin)
	b = append(b, `{"ts":"`...)
	b = append(b, prefix...)
	b = append2(b, ms/1000)
	b = append(b, '.')
	b = append2(b, ms%1000/10)
	b = append(b, byte('0'+ms%10))
	b = append(b, `Z","token":"`...)
	b = append(b, e.token...)
	b = append(b, `","ip":"`...)
	b = append(b, e.ip...)
	b = append(b, `","method":"`...)
	b = append(b, e.method...)
	b = append(b, `","path":"`...)
	b = append(b, e.path...)
	if e.count > 0 {
		b = append(b, "?count="...)
		b = strconv.AppendInt(b, int64(e.count), 10)
	}
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, `,"messages":`...)
	b = strconv.AppendInt(b, int64(e.messages), 10)
	b = append(b, `,"ua":"`...)
	b = append(b, e.ua...)
	return append(b, "\"}\n"...)
}

// append2 appends n, below 100, as two digits.
func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}
