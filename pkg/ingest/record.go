// Package ingest turns request-log lines into canonical records: it reads
// sources (files followed across rotation, stdin, historical files) and
// parses each line through a field mapping. It knows nothing of what is
// done with the records afterwards.
package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"
)

// Record is one API request in sentinel's canonical form.
//
// A Record never holds a raw credential: the parser replaces it by its
// fingerprint and hint as soon as it is read, and credentials found in the
// query string of Path are replaced by "fp:" and the fingerprint.
type Record struct {
	Time     time.Time  // event time, UTC
	Cred     Credential // zero when the request carried no credential
	IP       netip.Addr // client address, port removed; invalid when absent
	Method   string
	Path     string // path and query string, credentials redacted
	Status   int
	Bytes    int64 // response bytes sent to the client
	Messages int64 // messages the request pulled, by the pull rules
	UA       string
	// Weight scales counts for sampled sources: 1/sample rate. A record
	// from an unsampled source has weight 1.
	Weight float64
}

// Credential identifies the credential a request carried without
// revealing it.
type Credential struct {
	// FP is the first 12 lowercase hex characters of the SHA-256 of the
	// credential string exactly as the log carries it (after a "Bearer "
	// prefix is removed).
	FP string
	// Hint is the credential's last 4 characters; empty when the log
	// carries only a key id or a hash.
	Hint string
}

// FingerprintLen is the number of hex characters in a fingerprint.
const FingerprintLen = 12

// Fingerprint returns the fingerprint of a credential string.
func Fingerprint(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return hex.EncodeToString(sum[:FingerprintLen/2])
}

// NewCredential builds the Credential of a raw credential string. keyID
// says the log carries an identifier of the key rather than the key, so no
// hint is kept.
func NewCredential(raw string, keyID bool) Credential {
	if raw == "" {
		return Credential{}
	}
	c := Credential{FP: Fingerprint(raw)}
	if !keyID && len(raw) > 4 {
		c.Hint = raw[len(raw)-4:]
	}
	return c
}

// FileID identifies one file independently of its name, so that a saved
// position is never applied to a rotated or replaced file.
type FileID struct {
	Dev, Ino uint64
	// HeadLen bytes from the start of the file hash to Head (hex SHA-256).
	// A file whose first HeadLen bytes differ is another file, even when
	// the inode number was reused.
	HeadLen int
	Head    string
}

// Position is how far a file has been read: every line before Offset has
// been delivered.
type Position struct {
	Path   string
	ID     FileID
	Offset int64
}

// Batch is a run of complete lines from one source, in the order read.
type Batch struct {
	Source string   // the source's name: a file path, "-" for stdin
	Lines  [][]byte // complete lines without their newline; owned by the receiver
	// Pos is the position just after the last line. It is zero for
	// sources that have no position (stdin).
	Pos Position
	// Gap counts bytes known to be lost before this batch, such as
	// logrotate's window between its copy and its truncate.
	Gap int64
	// Read is how many bytes of a historical file had been read when the
	// batch was cut, compressed bytes for a gzip file, for a replay's
	// progress against the file's size; zero for other sources.
	Read int64
}
