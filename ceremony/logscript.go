package ceremony

import (
	"errors"
	"fmt"

	"github.com/keyceremony/keyceremony/ceremony/event"
)

// ErrNoScript: the log's opening entry cites no ceremony script.
var ErrNoScript = errors.New("the log cites no ceremony script")

// ScriptOfLog loads the script a log's opening entry cites, with the roster
// file it names, each only as an artefact the entry cites; read returns an
// artefact's bytes by SHA-256 (from the folder, or a published copy, which
// must check the digest).
func ScriptOfLog(open *event.Entry, read func(sha256 string) ([]byte, error)) (*Script, error) {
	if open == nil {
		return nil, ErrNoScript
	}
	ev, _ := open.Event.(event.Open)
	digest := ev.ScriptSHA256
	if digest == "" {
		return nil, ErrNoScript
	}
	name := ""
	for _, a := range open.Artefacts {
		if a.SHA256 == digest {
			name = a.Name
		}
	}
	if name == "" {
		return nil, fmt.Errorf("entry 0 names script %q but does not cite it as an artefact", digest)
	}
	raw, err := read(digest)
	if err != nil {
		return nil, fmt.Errorf("entry 0 cites script %s (%s), but artefacts/sha256/%s cannot be read: %w", name, digest, digest, err)
	}
	script, err := LoadScriptWith(name, raw, func(file string) ([]byte, error) {
		for _, a := range open.Artefacts {
			if a.Name == file {
				return read(a.SHA256)
			}
		}
		return nil, fmt.Errorf("entry 0 does not cite the roster %s as an artefact", file)
	})
	if err != nil {
		return nil, fmt.Errorf("the script the log cites does not load: %w", err)
	}
	return script, nil
}
