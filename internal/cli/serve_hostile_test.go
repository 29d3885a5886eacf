package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeHostileClients runs `serve` on loopback against clients that
// never finish their request headers (slowloris), one with oversized headers,
// and many at once: it keeps serving the others, and stops cleanly.
func TestServeHostileClients(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	if err := run(context.Background(), []string{"demo", "--script", "admin", "--auto", "--plain", "--log", dir}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--log", dir, "--addr", addr}, nil, io.Discard, io.Discard) }()
	base := "http://" + addr
	get := func() error {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(base + "/checkpoint")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	for i := 0; i < 100 && get() != nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	// 500 clients that send half a request and wait.
	var slow []net.Conn
	for i := 0; i < 500; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		fmt.Fprintf(c, "GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		slow = append(slow, c)
	}
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()
	if err := get(); err != nil {
		t.Fatalf("with 500 slow clients: %v", err)
	}
	// Headers of 2 MB.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 2<<20))
	status, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.Contains(status, "431") && status != "" {
		t.Fatalf("oversized headers: %q", status)
	}
	// Many at once.
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		go func() { errs <- get() }()
	}
	for i := 0; i < 200; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("200 clients at once: %v", err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
