package ingest

import "testing"

func benchParse(b *testing.B, format string, line []byte) {
	m, err := Preset(format)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewParser(m, DefaultPullRules(format))
	if err != nil {
		b.Fatal(err)
	}
	var rec Record
	if err := p.Parse(line, &rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := p.Parse(line, &rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCanonical measures the replay hot path.
func BenchmarkParseCanonical(b *testing.B) {
	line := []byte(`{"ts":"2024-05-14T09:21:07.204Z","token":"tok_test_aaaa1111bbbb","ip":"203.0.113.5","method":"GET","path":"/messages/outbound?count=25","status":200,"bytes":4096,"messages":25,"ua":"Go-http-client/1.1"}`)
	benchParse(b, FormatCanonical, line)
}

// BenchmarkParseCaddy measures a nested format with header arrays.
func BenchmarkParseCaddy(b *testing.B) {
	line := []byte(`{"level":"info","ts":1715678467.913002,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.0.0.4","remote_port":"40110","client_ip":"198.51.100.23","proto":"HTTP/1.1","method":"POST","host":"api.example.com","uri":"/email","headers":{"X-Postmark-Server-Token":["tok_test_9f2c41aa0b7e"],"X-Forwarded-For":["198.51.100.23"],"Content-Type":["application/json"],"User-Agent":["python-requests/2.31.0"]}},"bytes_read":812,"user_id":"","duration":0.018204,"size":198,"status":200,"resp_headers":{"Content-Type":["application/json"]}}`)
	benchParse(b, "caddy", line)
}
