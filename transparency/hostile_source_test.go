package transparency

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// hostileServer serves a checkpoint of the given size, signed by its own
// key, and every entry bundle full of entries of the largest size; it
// counts the bundles asked for.
func hostileServer(t *testing.T, size uint64) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	key := testKey(t, "hostile.example/log")
	signed, err := note.Sign(&note.Note{Text: FormatCheckpointBody(key.Signer.Name(), size, Hash{1})}, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	var bundle bytes.Buffer
	entry := bytes.Repeat([]byte("x"), 65535)
	for range 256 {
		binary.Write(&bundle, binary.BigEndian, uint16(len(entry)))
		bundle.Write(entry)
	}
	var bundles atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/checkpoint":
			w.Write(signed)
		case r.URL.Path == "/log.vkey":
			w.Write([]byte(key.VKey + "\n"))
		case strings.HasPrefix(r.URL.Path, "/tile/entries/"):
			bundles.Add(1)
			w.Write(bundle.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &bundles
}

// TestFollowBounded: whatever a server claims, a viewer fetches and holds
// a bounded amount: a checkpoint claiming 256,000,000 entries is an alarm
// before any bundle is fetched, and entries that add up to more than a
// viewer holds stop the fetch after a few bundles. Files larger than their
// kind can be are refused, and a redirect to another host is not followed.
func TestFollowBounded(t *testing.T) {
	ctx := context.Background()
	follow := func(t *testing.T, url string) error {
		t.Helper()
		src, err := NewHTTPSource(url)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFollower(ctx, src, "", "")
		if err != nil {
			return err
		}
		_, err = f.Poll(ctx)
		return err
	}
	t.Run("a checkpoint of 256,000,000 entries", func(t *testing.T) {
		srv, bundles := hostileServer(t, 256_000_000)
		err := follow(t, srv.URL)
		var alarm *Alarm
		if !errors.As(err, &alarm) || alarm.Check != CheckBounds || bundles.Load() != 0 {
			t.Fatalf("%v; %d bundles fetched", err, bundles.Load())
		}
	})
	t.Run("entries that add up to more than a viewer holds", func(t *testing.T) {
		srv, bundles := hostileServer(t, MaxFollowEntries)
		err := follow(t, srv.URL)
		var alarm *Alarm
		most := int64(MaxFollowBytes/(256*65535)) + 1
		if !errors.As(err, &alarm) || alarm.Check != CheckBounds || bundles.Load() > most {
			t.Fatalf("%v; %d bundles fetched, at most %d expected", err, bundles.Load(), most)
		}
	})
	t.Run("a checkpoint larger than any", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("a"), maxCheckpointFile+1))
		}))
		defer srv.Close()
		src, _ := NewHTTPSource(srv.URL)
		if _, err := src.Read(ctx, "checkpoint"); err == nil || !strings.Contains(err.Error(), "larger than any such file") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("a redirect to another host", func(t *testing.T) {
		elsewhere, _ := hostileServer(t, 3)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
		}))
		defer srv.Close()
		if err := follow(t, srv.URL); !errors.Is(err, ErrRedirect) {
			t.Fatalf("%v", err)
		}
	})
}
