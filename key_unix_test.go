//go:build unix

package selectors

import (
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

type namedFD int

// fdOnly has a descriptor through Fd alone.
type fdOnly struct{ fd int }

func (f fdOnly) Fd() uintptr { return uintptr(f.fd) }

// Every Go integer type is a descriptor.
func TestFileObjIntegers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, _ := socketPair(t)
		for _, obj := range []any{a, int8(a), int16(a), int32(a), int64(a), uint(a), uint8(a), uint16(a), uint32(a), uint64(a), uintptr(a), namedFD(a), fdOnly{a}} {
			key, err := s.Register(obj, EVENT_WRITE, nil)
			require.NoError(t, err, "%T", obj)
			assert.Equal(t, a, key.FD)
			assert.Equal(t, obj, key.FileObj)
			assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))
			got, err := s.GetKey(a)
			require.NoError(t, err)
			assert.Equal(t, obj, got.FileObj, "GetKey(fd) finds the key of any object with that fd")
			_, err = s.Unregister(obj)
			require.NoError(t, err, "%T", obj)
		}
		for _, obj := range []any{int8(-1), int64(-5), uint64(1 << 63), fdOnly{-1}} {
			_, err := s.Register(obj, EVENT_READ, nil)
			require.ErrorIs(t, err, ErrInvalidFileObj, "%T %v", obj, obj)
		}
	})
}

// A number past the C int of the kernel's descriptors is refused, not cut
// to 32 bits: 1<<32 + a would reach the kernel as a, register a under
// another number, and leave a Select reporting nothing, at once, forever.
func TestFileObjBeyondCInt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, _ := socketPair(t)
		huge := []any{uint32(math.MaxUint32), int64(math.MaxInt32) + 1, uint64(math.MaxInt32) + 1, uint64(1)<<32 + uint64(a)}
		if strconv.IntSize == 64 {
			wide := int64(1)<<32 + int64(a)
			huge = append(huge, wide, int(wide), fdOnly{int(wide)})
		}
		for _, obj := range huge {
			_, err := s.Register(obj, EVENT_WRITE, nil)
			require.ErrorIs(t, err, ErrInvalidFileObj, "%T %v", obj, obj)
			assert.ErrorContains(t, err, "out of range")
		}
		assert.Empty(t, s.GetMap())
		assert.Empty(t, selectNow(t, s), "nothing reached the kernel")
		_, err := s.Register(a, EVENT_WRITE, nil)
		require.NoError(t, err, "a itself is still free to register")
		assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))
	})
}

func isNonblocking(t testing.TB, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	require.NoError(t, err)
	return flags&unix.O_NONBLOCK != 0
}

// The file and net types register through syscall.Conn, read without
// switching them to blocking mode (which (*os.File).Fd would do).
func TestFileObjSyscallConn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		defer w.Close()
		tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer tcpLn.Close()
		tcp, err := net.Dial("tcp", tcpLn.Addr().String())
		require.NoError(t, err)
		defer tcp.Close()
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		defer udp.Close()
		unixLn, err := net.Listen("unix", filepath.Join(t.TempDir(), "sock"))
		require.NoError(t, err)
		defer unixLn.Close()
		unixConn, err := net.Dial("unix", unixLn.Addr().String())
		require.NoError(t, err)
		defer unixConn.Close()

		for _, obj := range []syscall.Conn{r, w, tcpLn.(*net.TCPListener), tcp.(*net.TCPConn), udp.(*net.UDPConn), unixLn.(*net.UnixListener), unixConn.(*net.UnixConn)} {
			fd := rawFD(t, obj)
			require.True(t, isNonblocking(t, fd), "%T starts non-blocking", obj)
			key, err := s.Register(obj, EVENT_READ, nil)
			require.NoError(t, err, "%T", obj)
			assert.Equal(t, fd, key.FD, "%T", obj)
			assert.Same(t, obj, key.FileObj)
			assert.True(t, isNonblocking(t, fd), "Register put %T in blocking mode", obj)
			_, err = s.Unregister(obj)
			require.NoError(t, err)
		}
	})
}

// A registered *os.File closed before Unregister is found by identity.
func TestFileObjClosedFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer w.Close()
		key, err := s.Register(r, EVENT_READ, "pipe")
		require.NoError(t, err)
		require.NoError(t, r.Close())

		_, err = s.Register(r, EVENT_READ, nil)
		require.ErrorIs(t, err, ErrInvalidFileObj)
		got, err := s.Unregister(r)
		require.NoError(t, err)
		assert.Equal(t, key, got)
		assert.Empty(t, s.GetMap())

		var nilFile *os.File
		_, err = s.Register(nilFile, EVENT_READ, nil)
		require.ErrorIs(t, err, ErrInvalidFileObj)
	})
}

// The selector's own descriptors never become keys.
func TestOwnDescriptorsRefused(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			before := fdSet(t)
			s := newTestSelector(t, name)
			own := openedSince(t, before)
			for _, fd := range own {
				_, err := s.Register(fd, EVENT_READ, nil)
				require.ErrorIs(t, err, ErrInvalidFileObj, "fd %d of the selector", fd)
			}
			require.NotEmpty(t, own, "the selector opened no descriptor")
			assert.Empty(t, s.GetMap())
		})
	}
}

// openedSince lists, in order, the descriptors open now that were not in
// before, a listing of fdSet.
func openedSince(t testing.TB, before map[int]bool) []int {
	t.Helper()
	var fds []int
	for fd := range fdSet(t) {
		if !before[fd] {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)
	return fds
}

// fdSet lists the open descriptors of the process.
func fdSet(t testing.TB) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	set := map[int]bool{}
	for _, e := range ents {
		var fd int
		for _, c := range e.Name() {
			fd = fd*10 + int(c-'0')
		}
		// The listing's own descriptor is closed by now.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			set[fd] = true
		}
	}
	return set
}

// Many descriptors: poll and epoll take them past FD_SETSIZE, select
// refuses those at Register.
func TestManyDescriptors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		const pairs = 700 // 1,400 descriptors, past FD_SETSIZE 1024
		var ends []int
		for range pairs {
			a, b := socketPair(t)
			ends = append(ends, a, b)
		}
		limit := -1
		if BackendName(s) == "select" {
			limit = fdSetSize
		}
		want := map[int]Events{}
		for _, fd := range ends {
			_, err := s.Register(fd, EVENT_WRITE, nil)
			if limit >= 0 && fd >= limit {
				require.ErrorIs(t, err, ErrInvalidFileObj, "fd %d", fd)
				assert.Contains(t, err.Error(), "FD_SETSIZE")
				continue
			}
			require.NoError(t, err, "fd %d", fd)
			want[fd] = EVENT_WRITE
		}
		assert.Equal(t, want, selectNow(t, s))
		for fd := range want {
			_, err := s.Unregister(fd)
			require.NoError(t, err)
		}
		assert.Empty(t, selectNow(t, s))
	})
}

// The largest C int is a descriptor number like any other: it reaches the
// backend, which refuses it for its own reasons (not open; past
// FD_SETSIZE) or takes it (poll).
func TestFileObjLargestCInt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		for _, obj := range []any{math.MaxInt32, int64(math.MaxInt32), uint32(math.MaxInt32), uintptr(math.MaxInt32)} {
			_, err := s.Register(obj, EVENT_READ, nil)
			if err == nil {
				_, err = s.Unregister(obj)
				require.NoError(t, err)
				continue
			}
			assert.NotContains(t, err.Error(), "out of range", "%T %v", obj, obj)
			switch BackendName(s) {
			case "epoll", "kqueue", "devpoll":
				assert.ErrorIs(t, err, unix.EBADF)
			case "select":
				assert.ErrorContains(t, err, "FD_SETSIZE")
			default:
				t.Errorf("%s: Register(%T %v): %v", BackendName(s), obj, obj, err)
			}
		}
	})
}

// poll takes any descriptor number, as Python's PollSelector does, and
// reports one that is not open as POLLNVAL (both events, masked). Numbers
// from denseFDs on go to the key table's map.
func TestPollFarDescriptor(t *testing.T) {
	s := newTestSelector(t, "poll")
	for _, fd := range []int{denseFDs + 7, math.MaxInt32} {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		require.ErrorIs(t, err, unix.EBADF, "fd %d is open", fd)
		key, err := s.Register(fd, EVENT_READ, "far")
		require.NoError(t, err, "fd %d", fd)
		got, err := s.GetKey(fd)
		require.NoError(t, err, "fd %d", fd)
		assert.Equal(t, key, got)
		assert.Equal(t, map[int]SelectorKey{fd: key}, s.GetMap())
		assert.Equal(t, map[int]Events{fd: EVENT_READ}, selectNow(t, s), "POLLNVAL, masked")
		got, err = s.Unregister(fd)
		require.NoError(t, err, "fd %d", fd)
		assert.Equal(t, key, got)
		_, err = s.GetKey(fd)
		require.ErrorIs(t, err, ErrNotRegistered)
		assert.Empty(t, selectNow(t, s))
	}
}

// An error or a hang-up alone is reported as both events, masked by the
// key's: a pipe's write end whose reader is gone has only POLLERR (no
// POLLOUT once full), a read end whose writer is gone only POLLHUP. A
// socket pair cannot show this: a peer's close sets POLLIN and POLLOUT too.
func TestSelectPipeErrorAndHangUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		var p, q [2]int
		require.NoError(t, unix.Pipe(p[:]))
		require.NoError(t, unix.Pipe(q[:]))
		for _, fd := range append(p[:], q[:]...) {
			trackEnd(t, fd)
			unix.CloseOnExec(fd)
			require.NoError(t, unix.SetNonblock(fd, true))
		}
		w, r := p[1], q[0]
		fillEnd(t, w)
		_, err := s.Register(w, EVENT_WRITE, nil)
		require.NoError(t, err)
		_, err = s.Register(r, EVENT_READ, nil)
		require.NoError(t, err)
		assert.Empty(t, selectNow(t, s))

		closeEnd(t, p[0]) // w: POLLERR
		closeEnd(t, q[1]) // r: POLLHUP
		waitFor(t, s, map[int]Events{w: EVENT_WRITE, r: EVENT_READ})
	})
}
