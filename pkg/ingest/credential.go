package ingest

import "bytes"

// StripBearer removes an HTTP "Bearer " scheme prefix, in any case, and
// the spaces around the token that follows it. A credential without the
// prefix is returned unchanged, spaces included. The parser applies it to
// every credential read from a token or key id field, so a fingerprint
// computed elsewhere must apply it too to match the alerts.
func StripBearer(b []byte) []byte {
	const prefix = "bearer "
	if len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix)) {
		return bytes.TrimSpace(b[len(prefix):])
	}
	return b
}
