//go:build unix && !linux

package selectors

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdWaker is a non-blocking pipe that a poller watches for input: wake
// writes a byte, drain reads them all. A full pipe is readable already, so
// wakeups coalesce.
type fdWaker struct{ r, w int }

func newWaker() (fdWaker, error) {
	var p [2]int
	// Hold ForkLock, as the os and net packages do, so that a child that
	// another goroutine forks meanwhile cannot inherit the pipe: darwin
	// has no pipe2 to set close-on-exec at once.
	syscall.ForkLock.RLock()
	err := unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return fdWaker{-1, -1}, fmt.Errorf("selectors: pipe: %w", err)
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return fdWaker{-1, -1}, fmt.Errorf("selectors: waker pipe: %w", err)
		}
	}
	return fdWaker{p[0], p[1]}, nil
}

// readFD is the descriptor to watch for input.
func (w fdWaker) readFD() int { return w.r }

func (w fdWaker) wake() error {
	_, err := unix.Write(w.w, []byte{1})
	if err == unix.EAGAIN {
		return nil // the pipe is full, so it is readable already
	}
	if err != nil {
		return fmt.Errorf("selectors: wake pipe: %w", err)
	}
	return nil
}

func (w fdWaker) drain() {
	var buf [64]byte
	for {
		n, err := unix.Read(w.r, buf[:])
		if n < len(buf) || err != nil {
			return
		}
	}
}

func (w fdWaker) close() error {
	return errors.Join(closeFD("waker pipe", w.r), closeFD("waker pipe", w.w))
}

func (w fdWaker) owns(fd int) bool { return fd == w.r || fd == w.w }
