//go:build darwin || ios || dragonfly || openbsd

package selectors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func init() {
	if exceptFlags == 0 {
		// OpenBSD's and DragonFly's except filter reports the urgent
		// condition only, not a socket's error (see KqueueSelector).
		urgentAloneMissesErrors["kqueue"] = true
	}
}

// What a kevent of the except filter says: EVENT_URGENT with NOTE_OOB,
// nothing for Darwin's plain data or end of file, every event for an
// error, whose number in Fflags may have NOTE_OOB's bit (ECONNRESET does,
// on Darwin and OpenBSD).
func TestKqueueExceptEvents(t *testing.T) {
	for _, c := range []struct {
		flags  int
		fflags uint32
		want   Events
	}{
		{0, unix.NOTE_OOB, EVENT_URGENT},
		{unix.EV_CLEAR, unix.NOTE_OOB, EVENT_URGENT},
		{0, 0, 0},
		{unix.EV_EOF, 0, 0},
		{unix.EV_EOF, uint32(unix.ECONNRESET), allEvents},
		{unix.EV_ERROR, 0, allEvents},
	} {
		var e unix.Kevent_t
		unix.SetKevent(&e, 3, unix.EVFILT_EXCEPT, c.flags)
		e.Fflags = c.fflags
		m, hungUp := keventEvents(&e)
		assert.Equal(t, c.want, m, "flags %#x, fflags %#x", c.flags, c.fflags)
		assert.False(t, hungUp)
	}
}
