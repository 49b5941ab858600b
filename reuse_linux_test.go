package selectors

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// CPython's test_unregister_after_fd_close_and_reuse: a registered
// descriptor closed and its number taken by another socket still
// unregisters, and the number can be registered again for the new socket.
func TestUnregisterAfterCloseAndReuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		r, w := socketPair(t)
		_, err := s.Register(r, EVENT_READ, "old")
		require.NoError(t, err)
		_, err = s.Register(w, EVENT_WRITE, "old")
		require.NoError(t, err)

		r2, w2 := socketPair(t)
		closeEnd(t, r)
		closeEnd(t, w)
		require.NoError(t, unix.Dup3(r2, r, unix.O_CLOEXEC))
		require.NoError(t, unix.Dup3(w2, w, unix.O_CLOEXEC))
		trackEnd(t, r)
		trackEnd(t, w)

		_, err = s.Unregister(r)
		require.NoError(t, err)
		_, err = s.Unregister(w)
		require.NoError(t, err)
		assert.Empty(t, s.GetMap())

		// The numbers now name the new pair, and work as such.
		_, err = s.Register(r, EVENT_READ, "new")
		require.NoError(t, err)
		_, err = s.Register(w, EVENT_WRITE, "new")
		require.NoError(t, err)
		assert.Equal(t, map[int]Events{w: EVENT_WRITE}, selectNow(t, s))
		writeEnd(t, w2, []byte("x"))
		waitFor(t, s, map[int]Events{r: EVENT_READ, w: EVENT_WRITE})
	})
}

// Every descriptor a selector opens is close-on-exec, so that no child the
// process starts inherits it.
func TestSelectorDescriptorsCloseOnExec(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			before := fdSet(t)
			newTestSelector(t, name)
			own := openedSince(t, before)
			for _, fd := range own {
				flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				require.NoError(t, err)
				assert.NotZero(t, flags&unix.FD_CLOEXEC, "fd %d of the selector is not close-on-exec", fd)
			}
			require.NotEmpty(t, own, "the selector opened no descriptor")
		})
	}
}

// After Close, Select returns ErrClosed without waiting on the numbers
// that the selector's descriptors had: the process may have reused them,
// here for another selector of the same backend, on which nothing is
// ready.
func TestSelectAfterCloseLeavesReusedNumbersAlone(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			before := fdSet(t)
			s, err := New(name)
			require.NoError(t, err)
			closedOwn := openedSince(t, before)
			require.NoError(t, s.Close())

			// Another selector takes the numbers: the lowest free ones, so
			// most likely the same, and dup3 makes sure.
			s2 := newTestSelector(t, name)
			ownNow := openedSince(t, before)
			require.Len(t, ownNow, len(closedOwn))
			for i, num := range closedOwn {
				if ownNow[i] == num {
					continue
				}
				_, err := unix.FcntlInt(uintptr(num), unix.F_GETFD, 0)
				require.ErrorIs(t, err, unix.EBADF, "fd %d of the closed selector was taken meanwhile", num)
				require.NoError(t, unix.Dup3(ownNow[i], num, unix.O_CLOEXEC))
				trackEnd(t, num)
			}

			done := make(chan error, 1)
			go func() {
				_, err := s.SelectInto(nil, -1)
				done <- err
			}()
			select {
			case err := <-done:
				require.ErrorIs(t, err, ErrClosed)
			case <-time.After(2 * time.Second):
				require.NoError(t, s2.Wakeup()) // free the goroutine
				<-done
				t.Fatal("Select after Close blocked on descriptor numbers reused by another selector")
			}
		})
	}
}

// Close from several goroutines at once, with a Select blocked: whichever
// Close returns, the selector's descriptors are closed by then, as after
// one Close. A second Close used to return nil at once while the first
// still waited for the Select to leave.
func TestConcurrentCloseReturnsOnceReleased(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			var counting sync.Mutex // one count at a time: each opens /proc/self/fd
			for i := range 100 {
				before := openFDs(t)
				s, err := New(name)
				require.NoError(t, err)
				selected := make(chan error, 1)
				go func() {
					_, err := s.Select(-1)
					selected <- err
				}()
				type closed struct {
					err error
					fds int
				}
				closes := make(chan closed, 3)
				for range 3 {
					go func() {
						err := s.Close()
						counting.Lock()
						defer counting.Unlock()
						closes <- closed{err, openFDs(t)}
					}()
				}
				for range 3 {
					c := <-closes
					require.NoError(t, c.err)
					require.Equal(t, before, c.fds, "round %d: a Close returned with the selector's descriptors open", i)
				}
				require.ErrorIs(t, <-selected, ErrClosed)
			}
		})
	}
}
