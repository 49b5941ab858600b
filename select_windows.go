package selectors

import (
	"fmt"
	"math"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

func init() {
	backends[bySelect] = backend{"select", func() (Selector, error) { return asSelector(NewSelectSelector()) }}
}

// SelectSelector is a Selector over Winsock's select, the only backend on
// Windows. It takes sockets only (SOCKET handles, and the net package's
// TCP and UDP connections and listeners) and refuses any other handle,
// such as a file or a pipe, at Register with ErrInvalidFileObj. It has no
// fixed limit on the number of sockets: its sets are sized to what is
// registered. Each Select costs time in proportion to the number of
// sockets registered. A socket closed while registered makes Select fail
// with WSAENOTSOCK until it is unregistered.
//
// Every registered socket is also watched for Winsock's exceptional
// conditions, where a failed non-blocking connect shows: it is reported
// as EVENT_READ|EVENT_WRITE, masked by the events registered, as an error
// is on Unix, so that a socket registered for EVENT_READ alone learns of
// its failed connect too (Python watches only those registered for
// EVENT_WRITE, and reports EVENT_WRITE). The other exceptional condition,
// urgent (out-of-band) data waiting, is reported as EVENT_WRITE only, as
// in Python, since a plain read does not take it, and once: the data stays
// until read with MSG_OOB, and would keep every wait returning at once, a
// Select spinning, so a socket seen with it leaves the except set until
// its registration changes. It is connected, so no failed connect is lost.
type SelectSelector struct {
	selector
}

// NewSelectSelector returns a SelectSelector, or an error wrapping
// Winsock's when its waker cannot be created.
func NewSelectSelector() (*SelectSelector, error) {
	if err := procSelect.Find(); err != nil {
		return nil, fmt.Errorf("selectors: %w", err)
	}
	w, err := newWaker()
	if err != nil {
		return nil, err
	}
	return &SelectSelector{newSelector("select", &selectSet{waker: w, stale: true})}, nil
}

// soType is SO_TYPE, which golang.org/x/sys/windows lacks.
const soType = 0x1008

// fdSet is a Winsock fd_set sized to its handles: a u_int count, padded
// to a SOCKET's size, then that many SOCKETs. Winsock reads as many
// handles as the count says, whatever the FD_SETSIZE it was compiled
// with, so a set has no fixed limit. select overwrites the count and the
// handles with those that are ready.
type fdSet []uintptr

func (s *fdSet) reset() { *s = append((*s)[:0], 0) }

func (s *fdSet) add(fd int) {
	*s = append(*s, uintptr(fd))
	(*s)[0]++
}

// handles returns the handles in the set: after select, those ready.
func (s fdSet) handles() []uintptr {
	if len(s) == 0 {
		return nil
	}
	return s[1 : 1+uint32(s[0])] // the count is a u_int; select writes only that
}

// ptr returns the set as an fd_set pointer, or nil for an empty set,
// which Winsock takes as no set.
func (s fdSet) ptr() unsafe.Pointer {
	if len(s) < 2 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// selectSet is the poller of SelectSelector. Like the Unix one it
// rebuilds its sets from the keys when they changed, and wait works on
// copies, since select overwrites the sets it is given.
type selectSet struct {
	waker                  waker
	read, write, except    fdSet // what is registered; except is every socket but those in urgent
	rready, wready, xready fdSet // what the last wait reported
	stale                  bool
	urgent                 map[int]bool // sockets seen with urgent data since their registration last changed
}

func (p *selectSet) add(fd int, _ Events) error {
	// select refuses a set with any handle that is not a socket, so such
	// a handle is refused here rather than failing every Select after.
	if _, err := windows.GetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, soType); err != nil {
		return fmt.Errorf("%w: handle %d is not a socket: %w", ErrInvalidFileObj, fd, err)
	}
	p.changed(fd)
	return nil
}

func (p *selectSet) modify(fd int, _, _ Events) error { p.changed(fd); return nil }
func (p *selectSet) remove(fd int, _ Events) error    { p.changed(fd); return nil }

// changed marks the sets for a rebuild after fd's registration changed,
// which puts it back in the except set.
func (p *selectSet) changed(fd int) {
	delete(p.urgent, fd)
	p.stale = true
}

func (p *selectSet) sync(keys *keyTable) {
	if p.stale {
		p.read.reset()
		p.write.reset()
		p.except.reset()
		// The waker keeps the read set from being empty: Winsock refuses
		// a select with three empty sets, where Unix would just sleep.
		p.read.add(p.waker.readFD())
		for i := range keys.len() {
			k := keys.at(i)
			if k.Events&EVENT_READ != 0 {
				p.read.add(k.FD)
			}
			if k.Events&EVENT_WRITE != 0 {
				p.write.add(k.FD)
			}
			if !p.urgent[k.FD] {
				p.except.add(k.FD)
			}
		}
		p.stale = false
	}
}

func (p *selectSet) reserve(int) {}

// maxTimeval is the longest wait a timeval holds: its tv_sec is a 32-bit
// long on Windows.
const maxTimeval = math.MaxInt32 * time.Second

func (p *selectSet) wait(timeout time.Duration) (int, error) {
	p.rready = append(p.rready[:0], p.read...)
	p.wready = append(p.wready[:0], p.write...)
	p.xready = append(p.xready[:0], p.except...)
	var tv *windows.Timeval
	if timeout >= 0 {
		us := (min(timeout, maxTimeval) + time.Microsecond - 1) / time.Microsecond // rounded up
		tv = &windows.Timeval{Sec: int32(us / 1e6), Usec: int32(us % 1e6)}
	}
	// The first argument, nfds, is ignored by Winsock.
	r, _, errno := syscall.SyscallN(procSelect.Addr(), 0,
		uintptr(p.rready.ptr()), uintptr(p.wready.ptr()), uintptr(p.xready.ptr()), uintptr(unsafe.Pointer(tv)))
	// select returns an int: on amd64 the upper half of r is not its.
	n := int32(r)
	if n == -1 { // SOCKET_ERROR; WSAGetLastError is GetLastError, which errno holds
		if errno == windows.WSAEINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("selectors: select: %w", errno)
	}
	return int(n), nil
}

func (p *selectSet) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	if n == 0 {
		return dst, false
	}
	// A socket can be in all three sets: appendReady merges its events
	// into one Ready, and skips sockets unregistered since the wait.
	keys.beginPass()
	woken := false
	wfd := p.waker.readFD()
	for _, h := range p.rready.handles() {
		if int(h) == wfd {
			woken = true
			continue
		}
		dst, _ = keys.appendReady(dst, int(h), EVENT_READ)
	}
	for _, h := range p.wready.handles() {
		dst, _ = keys.appendReady(dst, int(h), EVENT_WRITE)
	}
	for _, h := range p.xready.handles() {
		m, urgent := EVENT_READ|EVENT_WRITE, oobPending(h)
		if urgent {
			m = EVENT_WRITE
		}
		var found bool
		dst, found = keys.appendReady(dst, int(h), m)
		if urgent && found { // found: not unregistered since the wait
			if p.urgent == nil {
				p.urgent = make(map[int]bool)
			}
			p.urgent[int(h)] = true
			p.stale = true
		}
	}
	if woken {
		p.waker.drain()
	}
	return dst, woken
}

func (p *selectSet) wake() error { return p.waker.wake() }

// sioCatMark is Winsock's SIOCATMARK, _IOR('s', 7, u_long).
const sioCatMark = 0x40047307

// oobPending reports whether urgent (out-of-band) data waits on socket h:
// with an error, what puts a socket in select's except set. It asks
// SIOCATMARK, which reads nothing and, unlike SO_ERROR, clears nothing.
func oobPending(h uintptr) bool {
	var atMark, n uint32
	err := windows.WSAIoctl(windows.Handle(h), sioCatMark, nil, 0,
		(*byte)(unsafe.Pointer(&atMark)), uint32(unsafe.Sizeof(atMark)), &n, nil, 0)
	return err == nil && atMark == 0 // FALSE: urgent data before the mark
}

func (p *selectSet) owns(fd int) bool { return p.waker.owns(fd) }

func (p *selectSet) close() error { return p.waker.close() }
