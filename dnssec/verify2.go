package dnssec

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// independentDigest is the SHA-256 of the data an RRSIG over a DNSKEY
// RRset signs (RFC 4034 section 3.1.8.1), built here from the fields,
// without miekg/dns.
func independentDigest(zone string, keys []Key, sig Signature) ([32]byte, error) {
	owner, err := wireName(zone)
	if err != nil {
		return [32]byte{}, err
	}
	signerName, err := wireName(sig.SignersName)
	if err != nil {
		return [32]byte{}, err
	}
	var data bytes.Buffer
	// RRSIG RDATA without the signature.
	binary.Write(&data, binary.BigEndian, uint16(48)) // type covered: DNSKEY
	data.WriteByte(sig.Algorithm)
	data.WriteByte(sig.Labels)
	binary.Write(&data, binary.BigEndian, sig.OriginalTTL)
	binary.Write(&data, binary.BigEndian, uint32(sig.SignatureExpiration.Unix()))
	binary.Write(&data, binary.BigEndian, uint32(sig.SignatureInception.Unix()))
	binary.Write(&data, binary.BigEndian, sig.KeyTag)
	data.Write(signerName)
	// The RRset, each RR in canonical form, sorted by RDATA.
	var rdatas [][]byte
	for _, k := range keys {
		pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
		if err != nil {
			return [32]byte{}, fmt.Errorf("key %s: public key is not base64", k.KeyIdentifier)
		}
		rd := binary.BigEndian.AppendUint16(nil, k.Flags)
		rd = append(rd, k.Protocol, k.Algorithm)
		rdatas = append(rdatas, append(rd, pub...))
	}
	sort.Slice(rdatas, func(i, j int) bool { return bytes.Compare(rdatas[i], rdatas[j]) < 0 })
	for i, rd := range rdatas {
		if i > 0 && bytes.Equal(rd, rdatas[i-1]) {
			continue // duplicate RRs count once
		}
		data.Write(owner)
		binary.Write(&data, binary.BigEndian, uint16(48))
		binary.Write(&data, binary.BigEndian, uint16(1))
		binary.Write(&data, binary.BigEndian, sig.OriginalTTL)
		binary.Write(&data, binary.BigEndian, uint16(len(rd)))
		data.Write(rd)
	}
	return sha256.Sum256(data.Bytes()), nil
}

// verifyDigest checks an RRSIG's signature over a digest with the
// signer's key, with crypto/rsa or crypto/ecdsa.
func verifyDigest(signer Key, digest [32]byte, sig Signature) error {
	raw, err := base64.StdEncoding.DecodeString(sig.SignatureData)
	if err != nil {
		return errors.New("signature data is not base64")
	}
	pub, err := base64.StdEncoding.DecodeString(signer.PublicKey)
	if err != nil {
		return errors.New("signer's public key is not base64")
	}
	switch signer.Algorithm {
	case 8:
		key, err := rsaKey(pub)
		if err != nil {
			return err
		}
		return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], raw)
	case 13:
		if len(pub) != 64 || len(raw) != 64 {
			return errors.New("malformed ECDSA P-256 key or signature")
		}
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, pub...))
		if err != nil {
			return err
		}
		r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
		if !ecdsa.Verify(key, digest[:], r, s) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("algorithm %d is not supported", signer.Algorithm)
}

func rsaKey(pub []byte) (*rsa.PublicKey, error) {
	if len(pub) < 3 {
		return nil, errors.New("truncated RSA key")
	}
	elen, off := int(pub[0]), 1
	if elen == 0 {
		elen, off = int(pub[1])<<8|int(pub[2]), 3
	}
	if elen == 0 || elen > 8 || off+elen >= len(pub) {
		return nil, errors.New("malformed RSA key")
	}
	e := new(big.Int).SetBytes(pub[off : off+elen])
	if !e.IsInt64() || e.Int64() > 1<<31-1 || e.Int64() < 3 {
		return nil, errors.New("RSA exponent out of range")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(pub[off+elen:]), E: int(e.Int64())}, nil
}

// wireName encodes a domain name in canonical (lowercase) wire form.
func wireName(name string) ([]byte, error) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	var out []byte
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			if len(l) == 0 || len(l) > 63 {
				return nil, fmt.Errorf("name %q has a bad label", name)
			}
			out = append(append(out, byte(len(l))), l...)
		}
	}
	return append(out, 0), nil
}
