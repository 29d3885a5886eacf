package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// TestHostileTextEscaped: text a server or a folder gives reaches the
// auditor's terminal escaped: an HTTP reason phrase with a terminal escape
// and a bidi override (watch), a file name and a log key name with them
// (verify).
func TestHostileTextEscaped(t *testing.T) {
	ctx := context.Background()
	hostile := "\x1b]0;pwned\x07\x1b[2J\u202eevil"
	t.Run("watch: an HTTP reason phrase", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					r := bufio.NewReader(c)
					for {
						l, err := r.ReadString('\n')
						if err != nil || l == "\r\n" {
							break
						}
					}
					io.WriteString(c, "HTTP/1.1 503 "+hostile+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				}()
			}
		}()
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, vkey, err := note.GenerateKey(rand.Reader, "example.org/log")
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"watch", "--plain", "--interval", "100ms", "http://" + ln.Addr().String() + "/"},
			{"watch", "--plain", "--interval", "100ms", "--key", vkey, "http://" + ln.Addr().String() + "/"},
		} {
			var out bytes.Buffer
			Main(wctx, args, nil, &out, &out)
			if !strings.Contains(out.String(), `503 \x1b]0;pwned\x07\x1b[2J\u202eevil`) {
				t.Fatalf("watch does not show the reason phrase escaped:\n%q", out.String())
			}
			for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
				if strings.Contains(out.String(), bad) {
					t.Fatalf("watch printed %q raw:\n%q", bad, out.String())
				}
			}
		}
	})
	t.Run("verify: a file name and a key name", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "log")
		if err := run(ctx, []string{"demo", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		for name, edit := range map[string]func(string){
			"file": func(d string) {
				os.WriteFile(filepath.Join(d, "artefacts", "sha256", "ab"+hostile), []byte("x"), 0o644)
			},
			"key": func(d string) {
				_, vkey, err := note.GenerateKey(rand.Reader, "key"+hostile)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(d, "log.vkey"), []byte(vkey+"\n"), 0o644)
			},
		} {
			t.Run(name, func(t *testing.T) {
				c := filepath.Join(t.TempDir(), "log")
				if err := copyTree(dir, c); err != nil {
					t.Fatal(err)
				}
				edit(c)
				var out, errOut bytes.Buffer
				err := run(ctx, []string{"verify", c}, nil, &out, &errOut)
				all := out.String() + errOut.String() + errString(err)
				if exitCode(err) != exitBadInput || !strings.Contains(all, `\x1b[2J\u202eevil`) {
					t.Fatalf("exit %d:\n%q", exitCode(err), all)
				}
				for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
					if strings.Contains(all, bad) {
						t.Fatalf("verify printed %q raw:\n%q", bad, all)
					}
				}
			})
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestReportsQuoteFilesEscaped: a KSR whose id carries a bidi override (XML
// allows one) is reported by ksr check with it escaped, and so is a script
// problem that quotes the script.
func TestReportsQuoteFilesEscaped(t *testing.T) {
	ctx := context.Background()
	b, err := os.ReadFile("../../dnssec/testdata/ksr-root-2010-q1-0.xml")
	if err != nil {
		t.Fatal(err)
	}
	ksr := filepath.Join(t.TempDir(), "ksr.xml")
	os.WriteFile(ksr, bytes.Replace(b, []byte(`id="`), []byte("id=\"\u202eevil"), 1), 0o644)
	var out bytes.Buffer
	err = run(ctx, []string{"ksr", "check", ksr, "--now", "2010-01-01T00:00:00Z"}, nil, &out, &out)
	if strings.Contains(out.String(), "\u202e") || !strings.Contains(out.String(), `\u202eevil`) {
		t.Fatalf("ksr check: %v\n%q", err, out.String())
	}
}
