//go:build unix

package selectors

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	backends[byPoll] = backend{"poll", func() (Selector, error) { return asSelector(NewPollSelector()) }}
}

// PollSelector is a Selector over poll(2). It has no limit on descriptor
// numbers, but each Select costs time in proportion to the number of
// descriptors registered, in the kernel and here.
type PollSelector struct {
	selector
}

// NewPollSelector returns a PollSelector, or an error wrapping the
// kernel's when its waker cannot be created.
func NewPollSelector() (*PollSelector, error) {
	w, err := newWaker()
	if err != nil {
		return nil, err
	}
	return &PollSelector{newSelector("poll", &pollSet{waker: w, stale: true})}, nil
}

// pollSet is the poller of PollSelector. Registrations only mark the set
// stale; sync rebuilds it from the keys before the next wait, and a wait
// already blocked is woken to pick up the change.
type pollSet struct {
	waker waker
	fds   []unix.PollFd // fds[0] is the waker
	stale bool
}

// pollFD returns the pollfd record that watches fd for events. The
// field's type differs between platforms (int16, uint16 on AIX), so the
// bits go in as untyped constants.
func pollFD(fd int, events Events) unix.PollFd {
	pfd := unix.PollFd{Fd: int32(fd)}
	if events&EVENT_READ != 0 {
		pfd.Events |= unix.POLLIN
	}
	if events&EVENT_WRITE != 0 {
		pfd.Events |= unix.POLLOUT
	}
	return pfd
}

func (p *pollSet) add(int, Events) error            { p.stale = true; return nil }
func (p *pollSet) modify(int, Events, Events) error { p.stale = true; return nil }
func (p *pollSet) remove(int, Events) error         { p.stale = true; return nil }

func (p *pollSet) sync(keys *keyTable) {
	if p.stale {
		p.fds = append(p.fds[:0], pollFD(p.waker.readFD(), EVENT_READ))
		for i := range keys.len() {
			k := keys.at(i)
			p.fds = append(p.fds, pollFD(k.FD, k.Events))
		}
		p.stale = false
	}
}

func (p *pollSet) reserve(int) {}

func (p *pollSet) wait(timeout time.Duration) (int, error) {
	n, err := unix.Poll(p.fds, millis(timeout))
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selectors: poll: %w", err)
	}
	return n, nil
}

func (p *pollSet) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	woken := false
	if n > 0 && p.fds[0].Revents != 0 {
		p.waker.drain()
		woken = true
		n--
	}
	keys.beginPass()
	for i := 1; n > 0 && i < len(p.fds); i++ {
		pfd := &p.fds[i]
		if pfd.Revents == 0 {
			continue
		}
		n--
		// The keys may have changed since the wait (see epoll.ready):
		// appendReady skips a descriptor without a key.
		dst, _ = keys.appendReady(dst, int(pfd.Fd), pollMask(uint32(uint16(pfd.Revents)), unix.POLLIN, unix.POLLOUT))
	}
	return dst, woken
}

func (p *pollSet) wake() error { return p.waker.wake() }

func (p *pollSet) owns(fd int) bool { return p.waker.owns(fd) }

func (p *pollSet) close() error { return p.waker.close() }

// millis converts a wait to whole milliseconds for poll, epoll and
// /dev/poll, rounded up so that a wait never ends early: -1 for no limit.
func millis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// pollMask turns the revents of poll, epoll or /dev/poll into Events the
// way Python does: anything but plain input (errors, hang-ups) makes a
// descriptor writable and anything but plain output makes it readable, so
// that the caller's next read or write meets the condition.
func pollMask(revents, in, out uint32) Events {
	var m Events
	if revents&^in != 0 {
		m |= EVENT_WRITE
	}
	if revents&^out != 0 {
		m |= EVENT_READ
	}
	return m
}
