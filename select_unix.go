//go:build unix

package selectors

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdSetSize is the platform's FD_SETSIZE, the number of bits in an fd_set:
// 1024 on Linux and most BSDs, 256 on NetBSD, 65536 on Solaris, illumos
// and AIX.
const fdSetSize = int(unsafe.Sizeof(unix.FdSet{})) * 8

func init() {
	backends[bySelect] = backend{"select", func() (Selector, error) { return asSelector(NewSelectSelector()) }}
}

// SelectSelector is a Selector over select(2), the most portable backend.
// It takes only descriptors below the platform's FD_SETSIZE (1024 on Linux
// and most BSDs, 256 on NetBSD, 65536 on Solaris, illumos and AIX) and
// refuses larger ones at Register with ErrInvalidFileObj. Each Select costs
// time in proportion to the highest descriptor registered. A descriptor
// closed while registered makes Select fail with EBADF until it is
// unregistered. EVENT_URGENT is the exceptional set; select(2) reports a
// socket's error only in the read and write sets, so a socket registered
// for EVENT_URGENT alone meets its error at its next operation.
type SelectSelector struct {
	selector
}

// NewSelectSelector returns a SelectSelector, or an error wrapping the
// kernel's when its waker cannot be created.
func NewSelectSelector() (*SelectSelector, error) {
	w, err := newWaker()
	if err != nil {
		return nil, err
	}
	if w.readFD() >= fdSetSize {
		w.close()
		return nil, fmt.Errorf("%w: no descriptor below FD_SETSIZE %d left for the waker", ErrInvalidFileObj, fdSetSize)
	}
	s := &SelectSelector{}
	s.init("select", &selectSet{wfd: w.readFD()}, w, allEvents, time.Microsecond)
	return s, nil
}

// selectSet is the poller of SelectSelector: the fd_sets of the waker and
// the keys, rebuilt by the selector after a change. wait works on copies,
// since select(2) overwrites the sets it is given.
type selectSet struct {
	wfd                    int
	read, write, except    unix.FdSet // what is registered
	rready, wready, xready unix.FdSet // what the last wait reported
	nfd                    int        // 1 + the highest descriptor in the sets
	hasExcept              bool       // some key watches for EVENT_URGENT
}

func (p *selectSet) check(fd int) error {
	if fd >= fdSetSize {
		return fmt.Errorf("%w: fd %d is not below FD_SETSIZE %d", ErrInvalidFileObj, fd, fdSetSize)
	}
	return nil
}

func (p *selectSet) rebuild(keys *keyTable) {
	p.read.Zero()
	p.write.Zero()
	p.except.Zero()
	p.hasExcept = false
	p.read.Set(p.wfd)
	p.nfd = p.wfd + 1
	for i := range keys.len() {
		k := keys.at(i)
		if k.Events&EVENT_READ != 0 {
			p.read.Set(k.FD)
		}
		if k.Events&EVENT_WRITE != 0 {
			p.write.Set(k.FD)
		}
		if k.Events&EVENT_URGENT != 0 {
			p.except.Set(k.FD)
			p.hasExcept = true
		}
		p.nfd = max(p.nfd, k.FD+1)
	}
}

func (p *selectSet) wait(timeout time.Duration) (int, error) {
	p.rready, p.wready = p.read, p.write
	var except *unix.FdSet
	if p.hasExcept {
		p.xready = p.except
		except = &p.xready
	}
	var tv *unix.Timeval
	if timeout >= 0 {
		t := unix.NsecToTimeval(timeout.Nanoseconds()) // rounds up to a microsecond
		tv = &t
	}
	n, err := unix.Select(p.nfd, &p.rready, &p.wready, except, tv)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selectors: select: %w", err)
	}
	return n, nil
}

func (p *selectSet) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	if n == 0 {
		return dst, false
	}
	woken := p.rready.IsSet(p.wfd)
	// One pass over the keys, one Ready per key: nothing to look up or
	// merge, as appendReady does for a backend that reports descriptors.
	for i := range keys.len() {
		k := keys.at(i)
		var m Events
		if p.rready.IsSet(k.FD) {
			m |= EVENT_READ
		}
		if p.wready.IsSet(k.FD) {
			m |= EVENT_WRITE
		}
		if p.hasExcept && p.xready.IsSet(k.FD) {
			m |= EVENT_URGENT
		}
		if m &= k.Events; m != 0 {
			dst = appendKey(dst, k, m)
		}
	}
	return dst, woken
}

func (p *selectSet) close() error { return nil }
