// Package event is the ceremony log's entry format: one Go type per kind of
// entry, and the one canonical encoding of an entry (the exact bytes that
// become its Merkle leaf).
//
// An entry is a JSON object. Its header comes first, in this order: seq (its
// index in the log), time (UTC, RFC 3339, milliseconds), prev (the previous
// entry's RFC 6962 leaf hash in hex, empty for entry 0) and kind. The kind's
// fields follow, with the artefacts the entry cites, sorted by name. Marshal
// writes that form and Parse reads it strictly: one object, valid UTF-8, no
// duplicate keys, no field the kind does not define, at most MaxEntrySize
// bytes.
//
// The encoding is canonical: an entry has exactly one. Marshal is its
// definition, and ParseCanonical refuses any other bytes that Parse would
// read as the same entry (whitespace, another field order, escaped keys or
// characters written otherwise, numbers in another form, lone surrogates,
// a time in another format). VERIFYING.md in the repository spells the
// encoding out for an independent implementation.
//
// The package imports only the standard library and internal/safetext
// (which imports only the standard library), so that the ceremony engine,
// the verifier and any auditor's program can read a log without the log
// writer's dependencies.
package event
