//go:build darwin || ios || dragonfly || freebsd

package selectors

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// userWaker is an EVFILT_USER event of the kqueue itself, as in Go's
// runtime on these systems: wake triggers it, and EV_CLEAR resets it once
// a wait has reported it, so that wakeups before a wait count as one and
// there is nothing to drain. It costs no descriptor.
type userWaker struct{ kq int }

// userIdent names the user event. EVFILT_USER identifiers are not
// descriptors and cannot meet those of EVFILT_READ or EVFILT_WRITE.
const userIdent = 0

// newKqueueWaker returns the user event waker of kq; it has no descriptor.
func newKqueueWaker(kq int) (waker, int, error) {
	if err := keventChange(kq, userIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR, 0); err != nil {
		return nil, -1, fmt.Errorf("selectors: kevent add user event: %w", err)
	}
	return userWaker{kq}, -1, nil
}

func (w userWaker) wake() error {
	if err := keventChange(w.kq, userIdent, unix.EVFILT_USER, 0, unix.NOTE_TRIGGER); err != nil {
		return fmt.Errorf("selectors: kevent trigger user event: %w", err)
	}
	return nil
}

func (userWaker) drain() {}

func (userWaker) owns(int) bool { return false }

// close has nothing to release: the event goes with the kqueue.
func (userWaker) close() error { return nil }

// isWake reports whether e is the waker's event.
func (kq *kqueue) isWake(e *unix.Kevent_t) bool { return e.Filter == unix.EVFILT_USER }
