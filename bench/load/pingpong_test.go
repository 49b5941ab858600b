package main

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// stallingServer echoes the first n bytes each connection sends, then
// holds the connection open and answers nothing more.
func stallingServer(t *testing.T, n int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go io.Copy(c, io.LimitReader(c, n))
		}
	}()
	return ln.Addr().String()
}

// A server that stops answering in the middle of a run fails it within
// grace of its last answer, however long the run has gone on: the
// deadline follows the round trips, not the start of the run.
func TestPingPongFailsAStalledServer(t *testing.T) {
	const size, grace = 64, 300 * time.Millisecond
	addr := stallingServer(t, 200*size) // 200 round trips, then silence
	clients, err := dialAll(addr, 1, size, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var phase atomic.Int32
	phase.Store(measuring)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- clients[0].pingPong(&phase, grace) }()
	select {
	case err = <-done:
	case <-time.After(20 * grace):
		phase.Store(stopping)
		clients[0].conn.Close() // ends the read the missing deadline left blocked
		<-done
		t.Fatalf("pingPong still waiting %v after the server went silent", 20*grace)
	}
	took := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("pingPong: %v, want a deadline exceeded", err)
	}
	if clients[0].roundTrips != 200 {
		t.Errorf("%d round trips counted, want 200", clients[0].roundTrips)
	}
	if took < grace/2 || took > 10*grace {
		t.Errorf("failed after %v; want between %v and %v", took, grace/2, 10*grace)
	}
}

// A server that answers runs until the phase is stopping, and ends well.
func TestPingPongStopsWhenTold(t *testing.T) {
	const size = 64
	addr := stallingServer(t, 1<<40)
	clients, err := dialAll(addr, 1, size, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var phase atomic.Int32
	phase.Store(measuring)
	done := make(chan error, 1)
	go func() { done <- clients[0].pingPong(&phase, time.Second) }()
	time.Sleep(100 * time.Millisecond)
	phase.Store(stopping)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pingPong did not stop")
	}
	if clients[0].roundTrips == 0 {
		t.Error("no round trips counted")
	}
}
