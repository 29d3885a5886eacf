// Package dnssec reads and writes the key bundles that a DNSSEC key-signing
// ceremony exchanges with the zone operator, in IANA's XML format: the key
// signing request (KSR), with the zone-signing keys and their proof-of-
// possession signatures, and the signed key response (SKR), with each
// bundle's DNSKEY RRset signed by the key-signing key. It checks a KSR,
// signs its bundles through a crypto.Signer (an HSM or a software token) and
// verifies every signature in software before an SKR is written. Hashes that
// people compare aloud are rendered in the PGP word list.
package dnssec
