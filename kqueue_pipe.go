//go:build netbsd || openbsd

package selectors

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// kqueueWaker is the pipe waker under an EVFILT_READ filter, as in Go's
// runtime on these systems: OpenBSD has no EVFILT_USER, NetBSD only since
// version 10, and x/sys/unix defines it for neither.
type kqueueWaker struct{ waker }

func newKqueueWaker(kq int) (kqueueWaker, error) {
	w, err := newWaker()
	if err != nil {
		return kqueueWaker{w}, err
	}
	if err := keventChange(kq, w.readFD(), unix.EVFILT_READ, unix.EV_ADD, 0); err != nil {
		w.close()
		return kqueueWaker{waker{-1, -1}}, fmt.Errorf("selectors: kevent add waker pipe fd %d: %w", w.readFD(), err)
	}
	return kqueueWaker{w}, nil
}

// is reports whether e is the waker's event.
func (w kqueueWaker) is(e *unix.Kevent_t) bool {
	return e.Filter == unix.EVFILT_READ && int(e.Ident) == w.readFD()
}
