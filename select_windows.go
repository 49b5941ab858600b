package selectors

import (
	"fmt"
	"math"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

func init() {
	backends[bySelect] = backend{"select", func() (Selector, error) { return asSelector(NewSelectSelector()) }}
}

// SelectSelector is a Selector over Winsock's select. It takes sockets
// only (SOCKET handles, and the net package's TCP and UDP connections and
// listeners) and refuses any other handle, such as a file or a pipe, at
// Register with ErrInvalidFileObj. It has no fixed limit on the number of
// sockets: its sets are sized to what is registered. Each Select costs
// time in proportion to the number of sockets registered. A socket closed
// while registered makes Select fail with WSAENOTSOCK until it is
// unregistered.
//
// A socket registered for EVENT_WRITE or EVENT_URGENT is also in Winsock's
// exceptional set, as in Python: a failed non-blocking connect shows only
// there, and is reported as every event registered, as an error is on
// Unix. EVENT_URGENT is urgent (out-of-band) data waiting, reported until
// it is read with MSG_OOB. A socket registered for EVENT_WRITE and not
// EVENT_URGENT that has urgent data waiting leaves the exceptional set
// until its registration changes: it would keep every wait returning at
// once, and, connected, it can no longer fail to connect.
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
	s := &SelectSelector{}
	s.init("select", &selectSet{wfd: w.readFD()}, w, allEvents, time.Microsecond)
	return s, nil
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

// selectSet is the poller of SelectSelector: the sets of the waker and the
// keys, rebuilt by the selector after a change. wait works on copies,
// since select overwrites the sets it is given.
type selectSet struct {
	wfd                    int
	read, write, except    fdSet                // what is registered
	rready, wready, xready fdSet                // what the last wait reported
	muted                  map[int]registration // sockets out of except for their urgent data
}

// registration names a socket's registration: a Modify that changes its
// events, or a new Register, makes another.
type registration struct {
	tag    uint32
	events Events
}

func (p *selectSet) check(fd int) error {
	// select refuses a set with any handle that is not a socket, so such
	// a handle is refused here rather than failing every Select after.
	if _, err := windows.GetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, soType); err != nil {
		return fmt.Errorf("%w: handle %d is not a socket: %w", ErrInvalidFileObj, fd, err)
	}
	return nil
}

func (p *selectSet) rebuild(keys *keyTable) {
	p.read.reset()
	p.write.reset()
	p.except.reset()
	// The waker keeps the read set from being empty: Winsock refuses a
	// select with three empty sets, where Unix would just sleep.
	p.read.add(p.wfd)
	muted := p.muted
	p.muted = nil
	for i := range keys.len() {
		k := keys.at(i)
		if k.Events&EVENT_READ != 0 {
			p.read.add(k.FD)
		}
		if k.Events&EVENT_WRITE != 0 {
			p.write.add(k.FD)
		}
		if k.Events&(EVENT_WRITE|EVENT_URGENT) == 0 {
			continue
		}
		if r := (registration{keys.tag(k.FD), k.Events}); muted[k.FD] == r {
			p.keepMuted(k.FD, r) // the same registration: it stays out
			continue
		}
		p.except.add(k.FD)
	}
}

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
	for _, h := range p.rready.handles() {
		if int(h) == p.wfd {
			woken = true
			continue
		}
		dst, _ = keys.appendReady(dst, int(h), EVENT_READ)
	}
	for _, h := range p.wready.handles() {
		dst, _ = keys.appendReady(dst, int(h), EVENT_WRITE)
	}
	for _, h := range p.xready.handles() {
		if !oobPending(h) {
			// A failed connect: an error, every event.
			dst, _ = keys.appendReady(dst, int(h), allEvents)
			continue
		}
		k, tag := keys.getTagged(int(h))
		if k == nil {
			continue
		}
		if k.Events&EVENT_URGENT != 0 {
			dst, _ = keys.appendReady(dst, int(h), EVENT_URGENT)
			continue
		}
		p.mute(int(h), registration{tag, k.Events})
	}
	return dst, woken
}

// mute takes fd out of the exceptional set until its registration r
// changes.
func (p *selectSet) mute(fd int, r registration) {
	p.keepMuted(fd, r)
	for i, h := range p.except.handles() {
		if int(h) == fd {
			p.except = slices.Delete(p.except, 1+i, 2+i)
			p.except[0]--
			return
		}
	}
}

// keepMuted records that fd's registration r is out of the exceptional set.
func (p *selectSet) keepMuted(fd int, r registration) {
	if p.muted == nil {
		p.muted = make(map[int]registration)
	}
	p.muted[fd] = r
}

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

func (p *selectSet) close() error { return nil }
