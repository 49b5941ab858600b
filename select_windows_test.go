package selectors

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"
)

// Winsock's select takes sockets only: files and pipes are refused at
// Register, not by every Select after.
func TestSelectRefusesNonSockets(t *testing.T) {
	s := newTestSelector(t, "select")
	for _, obj := range nonSockets(t) {
		_, err := s.Register(obj, EVENT_READ, nil)
		require.ErrorIs(t, err, ErrInvalidFileObj, "%T", obj)
		assert.Contains(t, err.Error(), "not a socket")
	}
	assert.Empty(t, s.GetMap())
	_, err := s.Select(0)
	require.NoError(t, err)
}

// FD_SETSIZE is 64 on Windows; the sets are sized to what is registered.
func TestSelectBeyondFDSetSize(t *testing.T) {
	s := newTestSelector(t, "select")
	want := map[int]Events{}
	for range 200 {
		a, b := socketPair(t)
		_, err := s.Register(a, EVENT_READ, nil)
		require.NoError(t, err)
		writeEnd(t, b, []byte("x"))
		want[a] = EVENT_READ
	}
	waitFor(t, s, want)
}

// A failed non-blocking connect shows in Winsock's except set only, where
// a socket registered for EVENT_WRITE or EVENT_URGENT is watched, as in
// Python: it is reported as an error is on Unix, every event registered.
// One registered for EVENT_READ alone is not watched there and learns of
// it at its next operation.
func TestSelectFailedConnect(t *testing.T) {
	for _, events := range []Events{EVENT_READ, EVENT_WRITE, EVENT_URGENT, allEvents} {
		t.Run(events.String(), func(t *testing.T) {
			s := newTestSelector(t, "select")
			c := refusedConnect(t)
			_, err := s.Register(c, events, nil)
			require.NoError(t, err)
			if events == EVENT_READ {
				assertQuiet(t, s, 500*time.Millisecond, "a reader is not in the except set")
				return
			}
			waitFor(t, s, map[int]Events{c: events})
			soErr, err := windows.GetsockoptInt(windows.Handle(c), windows.SOL_SOCKET, 0x1007) // SO_ERROR
			require.NoError(t, err)
			assert.Equal(t, windows.WSAECONNREFUSED, windows.Errno(soErr))
		})
	}
}

// Urgent data waits in Winsock's except set until read with MSG_OOB: it
// is EVENT_URGENT to a registration for it. A writer not registered for
// it is watched there for a failed connect, and would meet it at every
// wait, a Select spinning until its timeout (a whole core, for any peer
// that sends one urgent byte): seen once, the socket leaves the except
// set until its registration changes.
func TestSelectUrgentDataDoesNotSpin(t *testing.T) {
	s, err := NewSelectSelector()
	require.NoError(t, err)
	defer s.Close()
	a, b := socketPair(t)
	sendOOB(t, b, '!')
	require.True(t, waitOOB(t, a), "the urgent byte never arrived")

	_, err = s.Register(a, EVENT_URGENT, nil)
	require.NoError(t, err)
	waitFor(t, s, map[int]Events{a: EVENT_URGENT})
	fillEnd(t, a)
	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.NoError(t, err)
	_, err = s.Select(0)
	require.NoError(t, err)
	waits, start := s.waits, time.Now()
	rs, err := s.Select(300 * time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, rs)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	assert.LessOrEqual(t, s.waits-waits, uint32(3), "Select(300ms) waited %d times: it spins on the urgent data", s.waits-waits)

	_, err = s.Modify(a, EVENT_URGENT, nil) // a new registration: watched again
	require.NoError(t, err)
	waitFor(t, s, map[int]Events{a: EVENT_URGENT})
}

// waitOOB waits up to a second for urgent data on socket h.
func waitOOB(t *testing.T, h int) bool {
	t.Helper()
	for range 100 {
		if oobPending(uintptr(h)) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// A socket closed while registered makes Select fail, as EBADF does on
// Unix, until it is unregistered.
func TestSelectSocketClosedWhileRegistered(t *testing.T) {
	s := newTestSelector(t, "select")
	a, b := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	_, err = s.Register(b, EVENT_WRITE, nil)
	require.NoError(t, err)
	closeEnd(t, a)

	_, err = s.Select(0)
	require.ErrorIs(t, err, windows.WSAENOTSOCK)
	_, err = s.Unregister(a)
	require.NoError(t, err)
	waitFor(t, s, map[int]Events{b: EVENT_WRITE})
}

// The waker's sockets are the selector's own.
func TestSelectRefusesWakerSockets(t *testing.T) {
	s, err := NewSelectSelector()
	require.NoError(t, err)
	defer s.Close()
	w := s.w.(fdWaker)
	for _, h := range []windows.Handle{w.r, w.w} {
		_, err := s.Register(int(h), EVENT_READ, nil)
		require.ErrorIs(t, err, ErrInvalidFileObj)
	}
}

// Datagram sockets, through the net package where it can open them.
func TestSelectUDP(t *testing.T) {
	s := newTestSelector(t, "select")
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if errors.Is(err, windows.WSAEOPNOTSUPP) {
		// Wine 8 does not implement SIO_UDP_NETRESET, which the net
		// package sets on every UDP socket: use Winsock directly.
		t.Logf("net.ListenUDP: %v; using a raw UDP socket", err)
		testSelectRawUDP(t, s)
		return
	}
	require.NoError(t, err)
	defer conn.Close()
	key, err := s.Register(conn, EVENT_READ, "udp")
	require.NoError(t, err)
	assert.Empty(t, selectNow(t, s))

	out, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	defer out.Close()
	_, err = out.Write([]byte("datagram"))
	require.NoError(t, err)
	waitFor(t, s, map[int]Events{key.FD: EVENT_READ})
}

func testSelectRawUDP(t *testing.T, s Selector) {
	var socks [2]windows.Handle
	for i := range socks {
		u, err := windows.Socket(windows.AF_INET, windows.SOCK_DGRAM, windows.IPPROTO_UDP)
		require.NoError(t, err)
		trackEnd(t, int(u))
		require.NoError(t, windows.Bind(u, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		socks[i] = u
	}
	_, err := s.Register(int(socks[0]), EVENT_READ, "udp")
	require.NoError(t, err)
	assert.Empty(t, selectNow(t, s))
	to, err := windows.Getsockname(socks[0])
	require.NoError(t, err)
	require.NoError(t, windows.Sendto(socks[1], []byte("datagram"), 0, to))
	waitFor(t, s, map[int]Events{int(socks[0]): EVENT_READ})
}

// tv_sec is a 32-bit long: the longest waits are capped, not wrapped.
func TestSelectLongTimeout(t *testing.T) {
	s := newTestSelector(t, "select")
	a, _ := socketPair(t)
	_, err := s.Register(a, EVENT_WRITE, nil)
	require.NoError(t, err)
	rs, err := s.Select(time.Duration(1<<63 - 1))
	require.NoError(t, err)
	assert.Len(t, rs, 1)
}

// Close releases the waker's sockets: Windows has no /proc/self/fd for
// TestNoDescriptorLeak to count them, so look at the handles themselves.
func TestSelectCloseReleasesWaker(t *testing.T) {
	s, err := NewSelectSelector()
	require.NoError(t, err)
	w := s.w.(fdWaker)
	require.NoError(t, s.Close())
	for _, h := range []windows.Handle{w.r, w.w} {
		_, err := windows.GetsockoptInt(h, windows.SOL_SOCKET, soType)
		require.ErrorIs(t, err, windows.WSAENOTSOCK, "handle %d is still a socket", h)
	}
}
