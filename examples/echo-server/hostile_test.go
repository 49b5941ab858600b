//go:build linux

package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors"
	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

// The hostile clients, all at once, for hostilePhase.
const (
	hostilePhase     = 4 * time.Second
	hostileResets    = 1000             // connections opened and reset
	hostileResetters = 10               // goroutines opening them
	hostileSlow      = 20               // slowloris clients: a byte every 100ms-1s
	hostileFloods    = 4                // clients that send 64 MiB and never read
	hostileFlood     = 64 << 20         // what each of them tries to send
	hostileHalf      = 20               // clients that half-close after sending
	hostileHalfSize  = 256 << 10        // what each of them sends
	hostileRSS       = 200 << 20        // the server's memory, at most
	hostileLatency   = 2 * time.Second  // a normal round trip, at most
	hostileSettle    = 10 * time.Second // for the server to drop them all
)

// TestHostileClients runs an echo server, on every backend, under hostile
// clients at once: a thousand connections reset as soon as open, slowloris
// clients, clients that flood and never read, and clients that half-close.
// Meanwhile a normal client's round trips, one every ~100ms, must all
// succeed in bounded time; the server's memory must stay bounded; and once
// the hostile clients are gone the server must be back to the descriptors
// it had before.
func TestHostileClients(t *testing.T) {
	for _, backend := range selectors.Backends() {
		t.Run(backend, func(t *testing.T) { hostileClients(t, backend) })
	}
}

func hostileClients(t *testing.T, backend string) {
	start := time.Now()
	s := startServer(t, backend)
	pid := s.Cmd.Process.Pid
	normal := echotest.Dial(t, s.Addr)
	if reply, err := echotest.RoundTrip(normal, []byte("hello\n")); err != nil || string(reply) != "hello\n" {
		t.Fatalf("first round trip: %q, %v", reply, err)
	}
	baseFDs, ok := echotest.OpenFiles(pid)
	if !ok {
		t.Fatalf("cannot count the server's descriptors in /proc/%d/fd", pid)
	}
	baseRSS, _ := echotest.PeakRSS(pid)

	stop := make(chan struct{}) // the hostile phase is over
	var wg sync.WaitGroup
	var (
		resets, slowBytes, flooded, halfDone atomic.Int64
		errs                                 = make(chan error, 100)
	)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	// sleep waits d, or less if the phase ends; false if it ended.
	sleep := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}

	// A thousand connections reset at once (SO_LINGER 0, then close),
	// spread over the phase.
	for g := range hostileResetters {
		wg.Go(func() {
			per := hostileResets / hostileResetters
			pause := hostilePhase / 2 / time.Duration(per)
			for range per {
				c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
				if err != nil {
					report(fmt.Errorf("reset client %d: %w", g, err))
					return
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				resets.Add(1)
				time.Sleep(pause)
			}
		})
	}

	// Slowloris: a byte every 100ms-1s, for the phase.
	for i := range hostileSlow {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				report(fmt.Errorf("slow client %d: %w", i, err))
				return
			}
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			for sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond) {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{'.'}); err != nil {
					report(fmt.Errorf("slow client %d: %w", i, err))
					return
				}
				slowBytes.Add(1)
			}
		})
	}

	// Floods: 64 MiB each, never read; they stop when their writes stall
	// for a second or the phase ends.
	for i := range hostileFloods {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				report(fmt.Errorf("flood client %d: %w", i, err))
				return
			}
			defer c.Close()
			chunk := bytes.Repeat([]byte("flood "), (256<<10)/6)
			for sent := 0; sent < hostileFlood && !stopped(); {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				n, err := c.Write(chunk)
				sent += n
				flooded.Add(int64(n))
				if errors.Is(err, os.ErrDeadlineExceeded) {
					sleep(hostilePhase) // stalled: hold the connection open, unread
					return
				}
				if err != nil {
					report(fmt.Errorf("flood client %d after %d bytes: %w", i, sent, err))
					return
				}
			}
		})
	}

	// Half-closers: send, shut down the sending side, read the whole echo
	// to the server's close. They start at random times in the phase.
	for i := range hostileHalf {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			if !sleep(time.Duration(rng.Int64N(int64(hostilePhase * 3 / 4)))) {
				return
			}
			c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				report(fmt.Errorf("half-close client %d: %w", i, err))
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hostilePhase + hostileSettle))
			msg := fmt.Appendf(nil, "half-close client %d ", i)
			msg = bytes.Repeat(msg, hostileHalfSize/len(msg))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(msg)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			reply, err := io.ReadAll(c)
			if err2 := <-werr; err == nil {
				err = err2
			}
			if err != nil {
				report(fmt.Errorf("half-close client %d: %w", i, err))
				return
			}
			if !bytes.Equal(reply, msg) {
				report(fmt.Errorf("half-close client %d: %d bytes back of %d, differing from byte %d", i, len(reply), len(msg), firstDiff(reply, msg)))
				return
			}
			halfDone.Add(1)
		})
	}

	// The normal client, every ~100ms through the phase; and the server's
	// memory and descriptors meanwhile.
	var trips int
	var worst time.Duration
	maxFDs := baseFDs
	for end := time.Now().Add(hostilePhase); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		msg := fmt.Appendf(nil, "round trip %d\n", trips)
		normal.SetDeadline(time.Now().Add(hostileLatency + 3*time.Second))
		t0 := time.Now()
		reply, err := echotest.RoundTrip(normal, msg)
		took := time.Since(t0)
		if err != nil || !bytes.Equal(reply, msg) {
			t.Errorf("round trip %d under attack: %q, %v after %v", trips, reply, err, took)
			break
		}
		if took > hostileLatency {
			t.Errorf("round trip %d under attack took %v, more than %v", trips, took, hostileLatency)
		}
		trips++
		worst = max(worst, took)
		if n, ok := echotest.OpenFiles(pid); ok {
			maxFDs = max(maxFDs, n)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	peak, haveRSS := echotest.PeakRSS(pid)
	t.Logf("%s: %d round trips, the slowest %v; %d resets, %d slowloris bytes, %d MiB flooded, %d of %d half-closes echoed; server: %d descriptors at most (%d before), peak RSS %d MiB (%d MiB before)",
		backend, trips, worst, resets.Load(), slowBytes.Load(), flooded.Load()>>20, halfDone.Load(), hostileHalf,
		maxFDs, baseFDs, peak>>20, baseRSS>>20)
	if trips < int(hostilePhase/time.Second) {
		t.Errorf("only %d round trips in %v", trips, hostilePhase)
	}
	if resets.Load() != hostileResets || halfDone.Load() != hostileHalf {
		t.Errorf("%d of %d resets, %d of %d half-closes done", resets.Load(), hostileResets, halfDone.Load(), hostileHalf)
	}
	if haveRSS && peak > hostileRSS {
		t.Errorf("server's peak RSS %d MiB, more than %d MiB", peak>>20, hostileRSS>>20)
	}

	// Gone: the server drops every one of them, and is back to its
	// descriptors from before; the normal client is still served.
	var fds int
	if !echotest.WaitUntil(hostileSettle, func() bool {
		fds, _ = echotest.OpenFiles(pid)
		return fds == baseFDs
	}) {
		t.Errorf("server has %d descriptors open %v after the hostile clients left, %d before", fds, hostileSettle, baseFDs)
	}
	if !echotest.WaitUntil(hostileSettle, func() bool {
		return s.Count("connected ")-s.Count("disconnected ") == 1
	}) {
		t.Errorf("%d connects and %d disconnects logged: only the normal client should remain", s.Count("connected "), s.Count("disconnected "))
	}
	normal.SetDeadline(time.Now().Add(5 * time.Second))
	if reply, err := echotest.RoundTrip(normal, []byte("still here\n")); err != nil || string(reply) != "still here\n" {
		t.Errorf("after the hostile clients: %q, %v", reply, err)
	}
	t.Logf("%s: %v in all", backend, time.Since(start))
}
