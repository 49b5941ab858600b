//go:build netbsd || openbsd

package selectors

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// newKqueueWaker returns the pipe waker under an EVFILT_READ filter of kq,
// as in Go's runtime on these systems (OpenBSD has no EVFILT_USER, NetBSD
// only since version 10, and x/sys/unix defines it for neither), and the
// descriptor it reports as.
func newKqueueWaker(kq int) (waker, int, error) {
	w, err := newWaker()
	if err != nil {
		return nil, -1, err
	}
	if err := keventChange(kq, w.readFD(), unix.EVFILT_READ, unix.EV_ADD, 0); err != nil {
		w.close()
		return nil, -1, fmt.Errorf("selectors: kevent add waker pipe fd %d: %w", w.readFD(), err)
	}
	return w, w.readFD(), nil
}

// isWake reports whether e is the waker's event.
func (kq *kqueue) isWake(e *unix.Kevent_t) bool {
	return e.Filter == unix.EVFILT_READ && int(e.Ident) == kq.wfd
}
