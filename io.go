package selectors

import (
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"sync"
	"syscall"
)

// Read reads what is there from fileobj into p without waiting, as
// Python's sock.recv does on a non-blocking socket: one read on the file
// object's descriptor, which never parks the goroutine and leaves the
// descriptor's blocking mode as it is.
//
// fileobj is what Register takes: an integer descriptor, a syscall.Conn
// such as *net.TCPConn, *net.UnixConn, *net.UDPConn or *os.File, or a value
// with a method Fd() uintptr. A syscall.Conn's descriptor is read inside
// its RawConn.Control, so that a Close in another goroutine cannot make
// Read reach a descriptor number the process has reused meanwhile.
//
// Read returns n > 0 and a nil error when it read something; 0 and io.EOF
// at the end of a stream; 0 and an error wrapping ErrWouldBlock when
// nothing is there yet (it also wraps syscall.EAGAIN); 0 and a nil error
// for an empty datagram, which ends nothing. Other errors wrap the
// system's, so that errors.Is(err, syscall.ECONNRESET) tells a reset. A
// read interrupted by a signal is made again.
//
// An empty p is an error wrapping io.ErrShortBuffer, and nothing is read:
// a read of nothing could not tell data still to come from the end of the
// stream, and on a datagram socket it would discard a datagram.
//
// A nil, closed or unusable file object is an error wrapping
// ErrInvalidFileObj that says what was wrong; a closed net.Conn's also
// wraps net.ErrClosed, a closed *os.File's os.ErrClosed.
//
// On Unix the descriptor must be in non-blocking mode for the read not to
// wait. Go's sockets and pipes are (net's conns and listeners, os.Pipe),
// but a descriptor Go did not open, such as an inherited standard input
// or an integer from elsewhere, may be in blocking mode: then Read waits
// for data, holding its thread, as read(2) does.
//
// On Windows fileobj must be a socket: a SOCKET handle, or a net conn. Go
// keeps its sockets in blocking mode there, and they must stay so, since
// their own I/O is overlapped; so Read first asks select, without
// waiting, whether the socket is readable, and reads only if it is: two
// system calls. Another read of the socket in another goroutine at the
// same time (conn.Read, or a Read of this package's) can take the data in
// between, and then this Read waits for more, holding its thread: read a
// socket from one goroutine at a time. Winsock's errors match their Unix
// names too: the would-block error wraps WSAEWOULDBLOCK and
// syscall.EAGAIN, a reset's WSAECONNRESET and syscall.ECONNRESET.
//
// With an integer descriptor, a *net.TCPConn, *net.UDPConn,
// *net.UnixConn or *os.File Read allocates nothing; with another
// syscall.Conn, the RawConn its SyscallConn returns. It is safe to call
// from any goroutine and takes no selector's lock.
func Read(fileobj any, p []byte) (int, error) {
	op := ioOp{kind: opRead, p: p}
	// An int is read here, not through run and do, so that its path runs
	// through no other function of the package. A system call can cost
	// the caches and, where the kernel switches page tables without
	// PCID, the TLB, so each function on the path costs its lines and
	// page again after every read.
	if fd, ok := fileobj.(int); ok && uint(fd) <= maxFD && len(p) != 0 {
		op.fd = fd
		if op.n, op.err = sysRead(fd, p); op.n <= 0 {
			op.settle()
		}
	} else if len(p) == 0 {
		return 0, errEmptyRead
	} else if err := op.run(fileobj); err != nil {
		return 0, err
	}
	if op.n > 0 && op.err == nil {
		return op.n, nil
	}
	return op.readResult()
}

// Write writes p to fileobj without waiting, as Python's sock.send does
// on a non-blocking socket: one write on the file object's descriptor,
// which takes what fits now. It returns how many bytes were taken; if
// that is less than len(p), the error wraps ErrWouldBlock (and
// syscall.EAGAIN), as io.Writer asks of a short write, and nothing taken
// is 0 and that error. Other errors wrap the system's (EPIPE,
// ECONNRESET, ...).
//
// An empty p makes the write all the same: on a datagram socket it sends
// an empty datagram, which is a message; on a stream it sends nothing and
// returns 0 and a nil error, or an error the stream has.
//
// On Windows Write asks select first, as Read does, and sends only if the
// socket is writable. Winsock then takes all of p at once, buffering past
// SO_SNDBUF if need be, so a Write takes all of p or none of it (unless
// the socket's SO_SNDBUF was set to 0, which makes a send wait until the
// data is sent). Under Wine, whose blocking send waits until all of p has
// gone into the host's socket, a Write of more than the socket has room
// for waits for the peer to read.
//
// fileobj, the blocking mode, bad objects, allocations and concurrency
// are as for Read.
func Write(fileobj any, p []byte) (int, error) {
	op := ioOp{kind: opWrite, p: p}
	if fd, ok := fileobj.(int); ok && uint(fd) <= maxFD { // as in Read
		op.fd = fd
		if op.n, op.err = sysWrite(fd, p); op.err != nil {
			op.settle()
		}
	} else if err := op.run(fileobj); err != nil {
		return 0, err
	}
	if op.n == len(p) && op.err == nil {
		return op.n, nil
	}
	return op.writeResult()
}

// ReadFrom reads one datagram from fileobj into p without waiting, as
// Python's sock.recvfrom does on a non-blocking socket, and returns its
// length and sender: a *net.UDPAddr from an IP socket, a *net.UnixAddr
// from a Unix one, or nil for a sender without an address (an unbound
// Unix socket). A datagram longer than p is cut to len(p), the rest lost,
// as recvfrom(2) does. It is Read, with the same results and errors
// otherwise, and it allocates the address.
func ReadFrom(fileobj any, p []byte) (int, net.Addr, error) {
	if len(p) == 0 {
		return 0, nil, errEmptyRead
	}
	op := ioOp{kind: opReadFrom, p: p}
	if err := op.run(fileobj); err != nil {
		return 0, nil, err
	}
	n, err := op.readResult()
	if err != nil {
		return n, nil, err
	}
	return n, netAddr(op.from), nil
}

// WriteTo sends p to addr as one datagram without waiting, as Python's
// sock.sendto does on a non-blocking socket: all of p, and a nil error,
// or nothing and an error, which wraps ErrWouldBlock when the socket's
// buffer has no room now. addr is a *net.UDPAddr for an IP socket (an
// IPv4 address reaches an IPv6 socket as an IPv4-mapped one) or a
// *net.UnixAddr for a Unix one; another type, or nil, is an error
// wrapping a *net.AddrError. An empty p sends an empty datagram. On a
// stream socket, which ignores addr, it sends what fits, as Write does.
// It is Write otherwise.
func WriteTo(fileobj any, p []byte, addr net.Addr) (int, error) {
	op := ioOp{kind: opWriteTo, p: p, to: addr}
	if err := op.run(fileobj); err != nil {
		return 0, err
	}
	return op.writeResult()
}

// Accept takes one pending connection from ln without waiting, as
// Python's sock.accept does on a non-blocking socket, and returns it as
// ln's own Accept would: a *net.TCPConn or *net.UnixConn in Go's network
// poller, so that its own Read, Write and deadlines work as usual, and
// that it can be registered with a selector. When no connection is
// pending it returns a nil net.Conn and an error wrapping ErrWouldBlock
// (and syscall.EAGAIN). A connection reset while it waited to be accepted
// is skipped, as ln's own Accept skips it.
//
// ln must be a *net.TCPListener or *net.UnixListener; any other listener,
// or a nil or closed one, is an error wrapping ErrInvalidFileObj (and
// net.ErrClosed for a closed one).
//
// On Unix Accept makes one accept system call, which never parks the
// goroutine, and sets the connection up as the net package does the ones
// it accepts: close-on-exec, non-blocking, and for TCP TCP_NODELAY and
// Go's default keep-alive. A ListenConfig's KeepAlive or
// KeepAliveConfig is not passed on: set them on the connection.
//
// On Windows, where only ln's own Accept (AcceptEx into a socket of its
// own making) gives a connection set up as Go's are, Accept asks select
// whether a connection is pending and, if one is, calls ln's own Accept,
// with a deadline on ln of 50 milliseconds that it clears after: a
// deadline of the caller's on ln is lost, and an Accept of ln's own in
// another goroutine at the same time meets it too. A connection reset in
// between makes Accept wait out that deadline, and return ErrWouldBlock.
//
// On Unix, being in Go's network poller, the connection is in the
// runtime's own epoll or kqueue set as well as in a selector's, and the
// kernel marks it ready in both at each of its events. That costs little
// while nothing waits in the runtime's poller; but while a Go timer is
// pending (time.AfterFunc, a Ticker, a context's deadline) or a goroutine
// is parked in a net or os Read or Write, a thread of the runtime waits
// in that set, and each event of the connection wakes it as well as the
// selector's loop. A server that must spend the least keeps its timers in
// its loop, as a Select timeout, or takes bare descriptors from the
// listener's RawConn (accept4 in its Control) and reads and writes them
// with Read and Write.
//
// It is safe to call from any goroutine and takes no selector's lock.
func Accept(ln net.Listener) (net.Conn, error) {
	var rc syscall.RawConn
	var err error
	switch l := ln.(type) {
	case *net.TCPListener:
		rc, err = l.SyscallConn()
	case *net.UnixListener:
		rc, err = l.SyscallConn()
	case nil:
		return nil, fmt.Errorf("%w: nil listener", ErrInvalidFileObj)
	default:
		return nil, fmt.Errorf("%w: %T is not a *net.TCPListener or *net.UnixListener", ErrInvalidFileObj, ln)
	}
	if err != nil {
		return nil, objectError(ln, err)
	}
	return accept(ln, rc)
}

var errEmptyRead = fmt.Errorf("selectors: read into an empty buffer: %w", io.ErrShortBuffer)

// opKind is the system call an ioOp makes.
type opKind uint8

const (
	opRead opKind = iota
	opWrite
	opReadFrom
	opWriteTo
)

// ioOp is one read or write (or recvfrom, sendto) on a file object's
// descriptor, made by do, which run calls inside RawConn.Control for a
// syscall.Conn: the descriptor cannot be closed, nor its number reused,
// until Control returns. It lives on the caller's stack: for the types run knows, the
// compiler sees through SyscallConn and Control, and neither the RawConn
// nor the method value op.do escapes.
type ioOp struct {
	kind opKind
	p    []byte
	to   net.Addr // where WriteTo sends
	fd   int      // the descriptor, for error messages
	n    int      // what the system call returned
	err  error    // its error, EINTR retried
	eof  bool     // a read of 0 bytes meant the end of a stream
	from sockaddr // the sender of what ReadFrom read
}

// run makes op's system call on fileobj's descriptor. It returns an error
// only when fileobj has no usable descriptor; the system call's own
// result is in op.
func (op *ioOp) run(fileobj any) error {
	// The common types first, each with its own call of SyscallConn:
	// inlined, it lets the compiler devirtualize Control and keep the
	// RawConn and op on the stack. A nil *net.TCPConn panics in
	// SyscallConn.
	switch c := fileobj.(type) {
	case int:
		if c < 0 || c > maxFD {
			_, err := checkFD(int64(c), fileobj)
			return err
		}
		op.do(uintptr(c))
		return nil
	case *net.TCPConn:
		if c == nil {
			return nilObject(fileobj)
		}
		rc, err := c.SyscallConn()
		if err == nil {
			err = rc.Control(op.do)
		}
		return objectError(fileobj, err)
	case *net.UnixConn:
		if c == nil {
			return nilObject(fileobj)
		}
		rc, err := c.SyscallConn()
		if err == nil {
			err = rc.Control(op.do)
		}
		return objectError(fileobj, err)
	case *net.UDPConn:
		if c == nil {
			return nilObject(fileobj)
		}
		rc, err := c.SyscallConn()
		if err == nil {
			err = rc.Control(op.do)
		}
		return objectError(fileobj, err)
	case *os.File:
		if c == nil {
			return nilObject(fileobj)
		}
		rc, err := c.SyscallConn()
		if err == nil {
			err = rc.Control(op.do)
		}
		if err != nil {
			// Control fails only for a closed file, and says so without
			// os.ErrClosed, which the file's own Read would wrap.
			return objectError(fileobj, fmt.Errorf("%w: %w", os.ErrClosed, err))
		}
		return nil
	}
	return op.runOther(fileobj)
}

// runOther is run for the other file objects: other integer types, other
// syscall.Conn types, values with Fd.
func (op *ioOp) runOther(fileobj any) (err error) {
	c, ok := fileobj.(syscall.Conn)
	if !ok || isInteger(fileobj) {
		// An integer, a value with Fd, or no file object at all.
		fd, err := fileDescriptor(fileobj)
		if err != nil {
			return err
		}
		op.do(uintptr(fd))
		return nil
	}
	// A user's type can panic in SyscallConn (a nil pointer receiver);
	// bad input is an error here, never a panic.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %T: %v", ErrInvalidFileObj, fileobj, p)
		}
	}()
	rc, err := c.SyscallConn()
	if err != nil {
		return objectError(fileobj, err)
	}
	// Control through an interface leaks its function to the heap: a
	// pooled op with its method value bound once keeps that from
	// allocating on every call.
	po := opPool.Get().(*pooledOp)
	po.ioOp = *op
	err = rc.Control(po.do)
	*op = po.ioOp
	po.ioOp = ioOp{} // the pool keeps no reference to the caller's buffer
	opPool.Put(po)
	return objectError(fileobj, err)
}

// do makes op's system call on fd, and settles it. On Windows the call
// is made only if select finds the socket ready, and else op.err is
// WSAEWOULDBLOCK.
func (op *ioOp) do(fd uintptr) {
	op.fd = int(fd)
	switch op.kind {
	case opRead:
		op.n, op.err = sysRead(op.fd, op.p)
	case opWrite:
		op.n, op.err = sysWrite(op.fd, op.p)
	case opReadFrom:
		op.n, op.from, op.err = recvfrom(op.fd, op.p)
	case opWriteTo:
		op.n, op.err = sendto(op.fd, op.p, op.to)
	}
	op.settle()
}

// pooledOp is an ioOp with its method value do bound once, for Control
// through an interface.
type pooledOp struct {
	ioOp
	do func(uintptr)
}

var opPool = sync.Pool{New: func() any {
	po := new(pooledOp)
	po.do = po.ioOp.do
	return po
}}

// objectError wraps err, the failure to reach fileobj's descriptor, in
// ErrInvalidFileObj, saying which object; nil stays nil.
func objectError(fileobj any, err error) error {
	if err == nil {
		return nil
	}
	if v := reflect.ValueOf(fileobj); v.Kind() == reflect.Pointer && v.IsNil() {
		return nilObject(fileobj)
	}
	return fmt.Errorf("%w: %T: %w", ErrInvalidFileObj, fileobj, err)
}

// nilObject is the error of a nil pointer given as a file object.
func nilObject(fileobj any) error {
	return fmt.Errorf("%w: nil %T", ErrInvalidFileObj, fileobj)
}

// sockaddrOf returns addr as the system takes it for socket fd: an IPv4
// address as such for an IPv4 socket and IPv4-mapped for an IPv6 one,
// which getsockname tells.
func sockaddrOf(fd int, addr net.Addr) (sockaddr, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil {
			break
		}
		ap := a.AddrPort()
		ip, port := ap.Addr().Unmap(), int(ap.Port())
		if ip.Is4() || !ip.IsValid() { // a nil IP: this host, as in the net package
			v6, err := isIPv6Socket(fd)
			switch {
			case err != nil:
				return nil, err
			case !v6 && !ip.IsValid():
				return inet4Sockaddr(port, [4]byte{}), nil
			case !v6:
				return inet4Sockaddr(port, ip.As4()), nil
			}
		}
		zone, err := zoneIndex(a.Zone)
		if err != nil {
			return nil, err
		}
		return inet6Sockaddr(port, ip.As16(), zone), nil
	case *net.UnixAddr:
		if a != nil {
			return unixSockaddr(a.Name), nil
		}
	}
	if v := reflect.ValueOf(addr); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, &net.AddrError{Err: "missing address"}
	}
	return nil, &net.AddrError{Err: "not a *net.UDPAddr or *net.UnixAddr", Addr: fmt.Sprintf("%T %v", addr, addr)}
}

// unixAddr returns the address of a Unix datagram socket bound to path:
// nil for an unbound one.
func unixAddr(path string) net.Addr {
	if path == "" {
		return nil
	}
	return &net.UnixAddr{Name: path, Net: "unixgram"}
}

// zoneIndex returns the index of the network interface that an IPv6 zone
// names, by its name or, as the net package takes it too, by its number,
// which is what zoneName gives for an interface without a name.
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err == nil {
		return uint32(ifi.Index), nil
	}
	if i, nerr := strconv.ParseUint(zone, 10, 32); nerr == nil {
		return uint32(i), nil
	}
	return 0, err
}

// zoneName returns the name of the network interface of index i, an IPv6
// zone, or its number where it has no name.
func zoneName(i uint32) string {
	if i == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(i), 10)
}

// readResult turns op's read into Read's result.
func (op *ioOp) readResult() (int, error) {
	switch {
	case op.err == nil && op.n > 0:
		return op.n, nil
	case op.err == nil && op.eof:
		return 0, io.EOF
	case op.err == nil:
		return 0, nil // an empty datagram
	case isWouldBlock(op.err):
		return 0, errReadWouldBlock
	}
	return 0, sysError("read", op.fd, op.err)
}

// writeResult turns op's write into Write's result.
func (op *ioOp) writeResult() (int, error) {
	switch {
	case op.err == nil && op.n == len(op.p):
		return op.n, nil
	case op.err == nil:
		return op.n, errWriteWouldBlock // short: the rest would block
	case isWouldBlock(op.err):
		return 0, errWriteWouldBlock
	}
	return 0, sysError("write", op.fd, op.err)
}

// The errors of an operation that found nothing to do, made once, so that
// the path a selector loop takes after a spurious readiness allocates
// nothing.
var (
	errReadWouldBlock   = wouldBlock("read")
	errWriteWouldBlock  = wouldBlock("write")
	errAcceptWouldBlock = wouldBlock("accept")
)
