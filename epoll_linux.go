package selectors

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	backends[byEpoll] = backend{"epoll", func() (Selector, error) { return asSelector(NewEpollSelector()) }}
}

// EpollSelector is a Selector over Linux's epoll, level-triggered. Its
// cost per Select follows the number of ready descriptors, not the number
// registered. It refuses regular files and directories with the kernel's
// EPERM, as epoll does.
type EpollSelector struct {
	selector
	ep *epoll
}

// NewEpollSelector returns an EpollSelector, or the kernel's error wrapped
// (EMFILE when the process is out of descriptors).
func NewEpollSelector() (*EpollSelector, error) {
	ep, err := newEpoll()
	if err != nil {
		return nil, err
	}
	return &EpollSelector{selector: newSelector("epoll", ep), ep: ep}, nil
}

// Fileno returns the epoll descriptor, or -1 once the selector is closed.
// Like Python's fileno, it is for the caller to watch, never to close.
func (s *EpollSelector) Fileno() int {
	if s.closed.Load() {
		return -1
	}
	return s.ep.epfd
}

// epoll is the poller of EpollSelector.
type epoll struct {
	epfd   int
	waker  waker
	events []unix.EpollEvent // filled by wait, read by ready
}

// firstEvents is how many events the first wait can take; sync makes room
// for more as descriptors are registered.
const firstEvents = 128

func newEpoll() (*epoll, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("selectors: epoll_create1: %w", err)
	}
	w, err := newWaker()
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ep := &epoll{epfd: epfd, waker: w, events: make([]unix.EpollEvent, firstEvents)}
	if err := ep.ctl(unix.EPOLL_CTL_ADD, "add", w.readFD(), unix.EPOLLIN); err != nil {
		w.close()
		unix.Close(epfd)
		return nil, err
	}
	return ep, nil
}

func toEpoll(events Events) uint32 {
	var e uint32
	if events&EVENT_READ != 0 {
		e |= unix.EPOLLIN
	}
	if events&EVENT_WRITE != 0 {
		e |= unix.EPOLLOUT
	}
	return e
}

func (ep *epoll) ctl(op int, name string, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(ep.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("selectors: epoll_ctl %s fd %d: %w", name, fd, err)
	}
	return nil
}

func (ep *epoll) add(fd int, events Events) error {
	return ep.ctl(unix.EPOLL_CTL_ADD, "add", fd, toEpoll(events))
}

func (ep *epoll) modify(fd int, _, events Events) error {
	return ep.ctl(unix.EPOLL_CTL_MOD, "mod", fd, toEpoll(events))
}

func (ep *epoll) remove(fd int, _ Events) error {
	err := ep.ctl(unix.EPOLL_CTL_DEL, "del", fd, 0)
	// A closed descriptor left the epoll set by itself (EBADF), or its
	// number now names another file that was never added (ENOENT).
	if errors.Is(err, unix.EBADF) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// reserve sizes the buffer as Python sizes its epoll.poll: room for every
// registered descriptor and the waker.
func (ep *epoll) reserve(registered int) {
	if need := registered + 1; len(ep.events) < need {
		ep.events = make([]unix.EpollEvent, max(need, 2*len(ep.events)))
	}
}

func (ep *epoll) wait(timeout time.Duration) (int, error) {
	n, err := unix.EpollWait(ep.epfd, ep.events, millis(timeout))
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selectors: epoll_wait: %w", err)
	}
	return n, nil
}

func (ep *epoll) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	woken := false
	wfd := int32(ep.waker.readFD())
	for i := range ep.events[:n] {
		e := &ep.events[i]
		if e.Fd == wfd {
			ep.waker.drain()
			woken = true
			continue
		}
		// A key may be gone or changed since the wait: another goroutine
		// can unregister or modify while Select is blocked.
		k := keys.get(int(e.Fd))
		if k == nil {
			continue
		}
		if m := pollMask(e.Events, unix.EPOLLIN, unix.EPOLLOUT) & k.Events; m != 0 {
			dst = append(dst, Ready{Key: *k, Mask: m})
		}
	}
	return dst, woken
}

func (ep *epoll) wake() error { return ep.waker.wake() }

func (ep *epoll) owns(fd int) bool { return fd == ep.epfd || ep.waker.owns(fd) }

func (ep *epoll) close() error {
	return errors.Join(ep.waker.close(), closeFD("epoll", ep.epfd))
}
