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
// descriptors registered, in the kernel and here. EVENT_URGENT is POLLPRI,
// except on macOS, whose poll never reports urgent data: there Register
// refuses it.
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
	s := &PollSelector{}
	s.init("poll", &pollSet{wfd: w.readFD()}, w, pollBackendEvents, time.Millisecond)
	return s, nil
}

// pollSet is the poller of PollSelector: the pollfd records of the waker
// and the keys, rebuilt by the selector after a change.
type pollSet struct {
	wfd int
	fds []unix.PollFd // fds[0] is the waker
}

func (p *pollSet) check(int) error { return nil }

func (p *pollSet) rebuild(keys *keyTable) {
	p.fds = appendPollFDs(p.fds[:0], p.wfd, keys)
}

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
		// The keys may have changed since the wait: appendReady skips a
		// descriptor without a key.
		dst, _ = keys.appendReady(dst, int(pfd.Fd), fromPoll(revents(pfd)))
	}
	return dst, woken
}

func (p *pollSet) close() error { return nil }
