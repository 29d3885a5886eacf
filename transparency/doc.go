// Package transparency is the ceremony's tamper-evident log: JSON entries chained by
// SHA-256, committed to an RFC 6962 Merkle tree, stored on disk in the C2SP
// tlog-tiles layout by an embedded Tessera POSIX log, and signed after every append
// as a C2SP tlog-checkpoint. It also holds the offline verifier that auditors run
// over a published folder; the verifier uses only golang.org/x/mod/sumdb (note,
// tlog) and the standard library, so its trusted code stays small.
//
// A log folder holds:
//
//	checkpoint                 the latest signed checkpoint (tlog-checkpoint, signed-note)
//	tile/<L>/<N>[.p/<W>]       hash tiles (tlog-tiles)
//	tile/entries/<N>[.p/<W>]   entry bundles (tlog-tiles); each entry is one JSON object
//	checkpoints/<size>         every signed checkpoint that covered an append
//	artefacts/sha256/<hex>     content-addressed copies of files that entries cite
//	log.vkey                   the note verifier key of the log, one line
//	.state/                    private state (not published, not secret): Tessera's
//	                           tree state, the write-ahead journal, a lock
//
// An append is durable once it is written and synced to the journal; Tessera
// integrates it into the bundles and tiles at once, and a signed checkpoint
// covers it within CheckpointInterval. Reopening a log after a crash
// integrates whatever only the journal held. The log's private key is never
// stored inside the folder.
package transparency
