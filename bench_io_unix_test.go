//go:build unix

package selectors

// Micro benchmarks of Read and Write beside the raw system call on the
// same descriptor, in the same run:
//
//	go test -run '^$' -bench 'BenchmarkIO$' -benchmem -count 10 . > io.txt
//	benchstat -col /op io.txt
//
// op=paired alternates the two in blocks and reports their ratio,
// ours/raw, as benchPaired does for Select (see benchAlternating).

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// benchIOSize is the size of each read and write: small, so that the
// system call is cheap and the package's own cost shows most.
const benchIOSize = 64

// benchIOEnds is a file object, its descriptor, and its peer's, all
// non-blocking; toObj says which way data flows, as in ioKind.
type benchIOEnds struct {
	obj      any
	fd, peer int
}

var benchIOKinds = []struct {
	name string
	ends func(b *testing.B, toObj bool) benchIOEnds
}{
	{"int", func(b *testing.B, _ bool) benchIOEnds {
		x, y := socketPair(b)
		return benchIOEnds{x, x, y}
	}},
	{"*os.File", func(b *testing.B, toObj bool) benchIOEnds {
		r, w, err := os.Pipe()
		require.NoError(b, err)
		b.Cleanup(func() { r.Close(); w.Close() })
		rfd, wfd := rawFD(b, r), rawFD(b, w)
		if toObj {
			return benchIOEnds{r, rfd, wfd}
		}
		return benchIOEnds{w, wfd, rfd}
	}},
	{"*net.TCPConn", func(b *testing.B, _ bool) benchIOEnds {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		require.NoError(b, err)
		defer ln.Close()
		peer, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		require.NoError(b, err)
		b.Cleanup(func() { peer.Close() })
		c, err := ln.AcceptTCP()
		require.NoError(b, err)
		b.Cleanup(func() { c.Close() })
		return benchIOEnds{c, rawFD(b, c), rawFD(b, peer)}
	}},
	{"*net.UnixConn", func(b *testing.B, _ bool) benchIOEnds {
		x, y := rawSocketPair(b)
		c, peer := fileConn(b, x), fileConn(b, y)
		return benchIOEnds{c, rawFD(b, c.(*net.UnixConn)), rawFD(b, peer.(*net.UnixConn))}
	}},
}

// BenchmarkIO: Read and Write of benchIOSize bytes on each kind of file
// object, against unix.Read and unix.Write on its descriptor. A read that
// finds the buffer empty, or a write that finds it full, is not counted:
// the peer then fills or drains it, outside the time measured.
func BenchmarkIO(b *testing.B) {
	for _, k := range benchIOKinds {
		b.Run("kind="+k.name+"/call=Read", func(b *testing.B) {
			e := k.ends(b, true)
			buf := make([]byte, benchIOSize)
			raw := func() bool {
				n, err := unix.Read(e.fd, buf)
				return n > 0 && err == nil
			}
			ours := func() bool {
				n, err := Read(e.obj, buf)
				return n > 0 && err == nil
			}
			refill := func() { fillBuffer(b, e.peer) }
			benchIOPair(b, raw, ours, refill)
		})
		b.Run("kind="+k.name+"/call=Write", func(b *testing.B) {
			e := k.ends(b, false)
			msg := make([]byte, benchIOSize)
			raw := func() bool {
				n, err := unix.Write(e.fd, msg)
				return n == len(msg) && err == nil
			}
			ours := func() bool {
				n, err := Write(e.obj, msg)
				return n == len(msg) && err == nil
			}
			drain := func() { drainBuffer(b, e.peer) }
			benchIOPair(b, raw, ours, drain)
		})
	}
}

// benchIOPair runs raw and ours alone (op=raw, op=ours, with their
// allocations) and in alternate blocks (op=paired, see benchAlternating).
// Each returns false when the descriptor had nothing to do, after which
// reset makes it ready again, outside the time measured.
func benchIOPair(b *testing.B, raw, ours func() bool, reset func()) {
	for _, op := range []struct {
		name string
		f    func() bool
	}{{"raw", raw}, {"ours", ours}} {
		b.Run("op="+op.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for !op.f() {
					b.StopTimer()
					reset()
					b.StartTimer()
				}
			}
		})
	}
	b.Run("op=paired", func(b *testing.B) {
		benchAlternating(b, "call", [2]func() bool{raw, ours}, func(int) { reset() })
	})
}

// fillBuffer writes to fd until the kernel takes no more.
func fillBuffer(b *testing.B, fd int) {
	chunk := make([]byte, 64<<10)
	for {
		_, err := unix.Write(fd, chunk)
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			b.Fatal(fmt.Errorf("fill: %w", err))
		}
	}
}

// drainBuffer reads fd until nothing is left.
func drainBuffer(b *testing.B, fd int) {
	chunk := make([]byte, 64<<10)
	for {
		_, err := unix.Read(fd, chunk)
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			b.Fatal(fmt.Errorf("drain: %w", err))
		}
	}
}
