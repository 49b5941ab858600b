//go:build linux

// Command gnet is the echo server on github.com/panjf2000/gnet/v2 with one
// event loop (WithMulticore(false), WithNumEventLoop(1)), the way gnet's
// documents describe an echo: OnTraffic writes back what it reads, and gnet
// buffers what the socket does not take.
//
// Usage:
//
//	gnet [-addr 127.0.0.1:0] [-lifetime 10m]
//
// Its first line on stdout is "listening on <host:port> (gnet)".
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

type echo struct {
	gnet.BuiltinEventEngine
}

// OnBoot prints the address gnet bound, which port 0 leaves to the
// kernel: gnet reports it through a copy of the listener's descriptor.
func (e *echo) OnBoot(eng gnet.Engine) gnet.Action {
	fd, err := eng.Dup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet: dup listener:", err)
		return gnet.Shutdown
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet: getsockname:", err)
		return gnet.Shutdown
	}
	sa4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		fmt.Fprintf(os.Stderr, "gnet: listener address %T, want IPv4\n", sa)
		return gnet.Shutdown
	}
	fmt.Printf("listening on %s (gnet)\n", netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port)))
	return gnet.None
}

func (e *echo) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Next(-1) // all that arrived
	if err != nil {
		return gnet.Close
	}
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// stderrLogger keeps gnet's warnings and errors on stderr and drops the
// rest: its default logger writes to stdout, whose first line must be ours.
type stderrLogger struct{}

var _ logging.Logger = stderrLogger{}

func (stderrLogger) Debugf(string, ...any) {}
func (stderrLogger) Infof(string, ...any)  {}
func (stderrLogger) Warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (stderrLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (stderrLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on `host:port` (IPv4; port 0 picks one)")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long, whatever happens")
	flag.Parse()

	// The bench kills the server after each run; this is the bound if
	// the script itself is killed first.
	time.AfterFunc(*lifetime, func() { os.Exit(3) })

	err := gnet.Run(&echo{}, "tcp4://"+*addr,
		gnet.WithMulticore(false),
		gnet.WithNumEventLoop(1),
		gnet.WithLogger(stderrLogger{}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gnet:", err)
		os.Exit(1)
	}
}
