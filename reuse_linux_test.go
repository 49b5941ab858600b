package selectors

import (
	"testing"

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
