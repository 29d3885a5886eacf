// Package publish serves a ceremony log folder to viewers over HTTP: the
// folder's files read-only as C2SP tlog-tiles (the checkpoints revalidated,
// as officers' cosignatures join them; everything else immutable), a live stream of new checkpoints as
// server-sent events, and a web page that verifies the log in the browser.
// It never writes to the folder and serves nothing outside it.
package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyceremony/keyceremony/dnssec"
)

//go:embed web
var webFiles embed.FS

// Paths of a log folder that are published; nothing else is.
var published = regexp.MustCompile(`^(checkpoint|log\.vkey|checkpoints/[0-9]+|artefacts/sha256/[0-9a-f]{64}|tile/(entries|[0-9]+)(/x[0-9]{3})*/[0-9]{3}(\.p/[0-9]+)?)$`)

// Server publishes one log folder.
type Server struct {
	root *os.Root
	// Poll is how often the checkpoint file is read for the live stream.
	Poll time.Duration

	mu      sync.Mutex
	latest  []byte
	frame   []byte // latest as a server-sent event
	subs    map[chan []byte]struct{}
	stopped chan struct{} // closed when Run returns: the streams end
}

// New opens dir for publishing. The folder is opened as a root: no path,
// link or name served can reach outside it.
func New(dir string) (*Server, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := root.Lstat("log.vkey"); err != nil || !fi.Mode().IsRegular() {
		root.Close()
		return nil, fmt.Errorf("%s: not a log folder (no log.vkey)", dir)
	}
	return &Server{root: root, Poll: 25 * time.Millisecond, subs: map[chan []byte]struct{}{}, stopped: make(chan struct{})}, nil
}

// Close releases the folder.
func (s *Server) Close() error { return s.root.Close() }

// Run reads the checkpoint every Poll and pushes each new one to the
// stream's subscribers, until ctx ends.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	defer close(s.stopped)
	for {
		if cp, err := s.read("checkpoint"); err == nil {
			s.mu.Lock()
			if !bytes.Equal(cp, s.latest) {
				s.latest = cp
				frame := eventFrame(cp) // made once, written to every viewer
				s.frame = frame
				cp := frame
				for c := range s.subs {
					select {
					case c <- cp:
					default: // a viewer too slow for a whole backlog: drop its oldest
						select {
						case <-c:
						default:
						}
						c <- cp
					}
				}
			}
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Subscribers is how many viewers follow the stream now.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// open opens a regular file of the folder read-only: no component of its
// path may be a link (os.Root would follow one that stays inside the folder,
// and a link could name .state/ under a published name), and the file must
// be regular (a pipe or a device could block or never end).
func (s *Server) open(name string) (*os.File, fs.FileInfo, error) {
	parts := strings.Split(name, "/")
	for i := range parts {
		fi, err := s.root.Lstat(strings.Join(parts[:i+1], "/"))
		if err != nil {
			return nil, nil, err
		}
		if last := i == len(parts)-1; (!last && !fi.IsDir()) || (last && !fi.Mode().IsRegular()) {
			return nil, nil, fs.ErrNotExist
		}
	}
	f, err := s.root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, nil
}

// read returns a small file of the folder (the checkpoint).
func (s *Server) read(name string) ([]byte, error) {
	f, _, err := s.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

// securityHeaders are sent with every response: the page runs only its own
// script, nothing is sniffed, framed or referred.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	// The decoded path and the raw one must both be plain: no dot segments,
	// no encoded slashes or dots, no backslashes, no NUL.
	p := r.URL.Path
	if strings.Contains(r.URL.RawPath, "%") || strings.ContainsAny(p, "\\\x00") || strings.Contains(p, "//") {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name != "" && (path.Clean(name) != name || strings.HasPrefix(name, ".")) {
		http.NotFound(w, r)
		return
	}
	switch {
	case name == "" || name == "index.html":
		s.serveWeb(w, r, "index.html")
	case strings.HasPrefix(name, "web/"):
		s.serveWeb(w, r, strings.TrimPrefix(name, "web/"))
	case name == "events":
		s.serveEvents(w, r)
	case published.MatchString(name):
		s.serveFile(w, r, name)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	f, fi, err := s.open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	switch {
	case name == "checkpoint" || strings.HasPrefix(name, "checkpoints/"):
		// An archived checkpoint gains the officers' cosignatures after
		// it is first served, often within the second: revalidated, by a
		// validator of its content (a modification time has one-second
		// precision).
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		if fi.Size() <= 64<<10 {
			if b, err := io.ReadAll(io.LimitReader(f, 64<<10)); err == nil {
				sum := sha256.Sum256(b)
				h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					http.Error(w, "read error", http.StatusInternalServerError)
					return
				}
			}
		}
	case name == "log.vkey":
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Type", "text/plain; charset=utf-8")
	default:
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Access-Control-Allow-Origin", "*") // public data: any viewer may read it
	// Streamed from the file, whatever its size; ranges and HEAD included.
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// WebFile returns one of the page's files: index.html, app.js, style.css,
// and pgpwords.js (made from the same word lists as the console's).
func WebFile(name string) ([]byte, string, error) {
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	if name == "pgpwords.js" {
		even, odd := dnssec.PGPWordLists()
		e, _ := json.Marshal(even)
		o, _ := json.Marshal(odd)
		return []byte("\"use strict\";\nconst PGP_EVEN = " + string(e) + ";\nconst PGP_ODD = " + string(o) + ";\n"), types[".js"], nil
	}
	if strings.Contains(name, "/") {
		return nil, "", fs.ErrNotExist
	}
	data, err := webFiles.ReadFile("web/" + name)
	if err != nil {
		return nil, "", err
	}
	return data, types[path.Ext(name)], nil
}

// WebFiles are the names of the page's files.
func WebFiles() []string { return []string{"index.html", "app.js", "style.css", "pgpwords.js"} }

func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request, name string) {
	data, ctype, err := WebFile(name)
	if err != nil || ctype == "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data)
}

// serveEvents streams the checkpoint as server-sent events: the current one
// at once, then each new one.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// A backlog per viewer: every checkpoint reaches every viewer that keeps
	// up to within subscriberBacklog of them.
	c := make(chan []byte, subscriberBacklog)
	s.mu.Lock()
	s.subs[c] = struct{}{}
	if s.frame != nil {
		c <- s.frame
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, c)
		s.mu.Unlock()
	}()
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopped:
			return
		case frame := <-c:
			if _, err := w.Write(frame); err != nil {
				return
			}
			fl.Flush()
		case <-keepAlive.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// eventFrame is a checkpoint as a server-sent event: one data line per line
// of the note.
func eventFrame(cp []byte) []byte {
	var b strings.Builder
	b.WriteString("event: checkpoint\n")
	for _, line := range strings.Split(strings.TrimSuffix(string(cp), "\n"), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// subscriberBacklog is how many checkpoints wait for a viewer of the live
// stream before the oldest is dropped (the viewer then reads the newest,
// which is all it needs to verify).
const subscriberBacklog = 64
