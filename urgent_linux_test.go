package selectors

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY returns the master and the slave of a new pseudo-terminal, the
// master non-blocking, both closed at the end of the test.
func openPTY(t *testing.T) (master, slave int) {
	t.Helper()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	require.NoError(t, err)
	trackEnd(t, master)
	require.NoError(t, unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0)) // unlockpt
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	require.NoError(t, err)
	slave, err = unix.Open("/dev/pts/"+itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	trackEnd(t, slave)
	return master, slave
}

// A pseudo-terminal's master in packet mode (TIOCPKT) has an exceptional
// condition when the slave's state changes, here a flush of its output:
// EVENT_URGENT, and not for plain output, which is EVENT_READ.
func TestUrgentPseudoTerminalPacketMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		master, slave := openPTY(t)
		require.NoError(t, unix.IoctlSetPointerInt(master, unix.TIOCPKT, 1))
		_, err := s.Register(master, EVENT_URGENT, nil)
		require.NoError(t, err)

		writeEnd(t, slave, []byte("plain output"))
		_, err = s.Modify(master, EVENT_READ, nil)
		require.NoError(t, err)
		waitFor(t, s, map[int]Events{master: EVENT_READ})
		_, err = s.Modify(master, EVENT_URGENT, nil)
		require.NoError(t, err)
		assertQuiet(t, s, 100*time.Millisecond, "plain output alone")

		require.NoError(t, unix.IoctlSetInt(slave, unix.TCFLSH, unix.TCOFLUSH))
		waitFor(t, s, map[int]Events{master: EVENT_URGENT})
		// Read in packet mode, the master gives the status byte, and the
		// condition ends.
		pkt := readEnd(t, master, 64)
		require.NotEmpty(t, pkt)
		assert.NotZero(t, pkt[0]&unix.TIOCPKT_FLUSHWRITE, "packet %q", pkt)
		assertQuiet(t, s, 100*time.Millisecond, "status read")
	})
}

// A file that is always readable, registered for EVENT_URGENT alone, is
// reported only on its condition, until it is read: the sysfs GPIO
// pattern, here with a cgroup's cgroup.events, whose POLLPRI (with
// POLLERR) says the cgroup's state changed, as its freezing does.
func TestUrgentAlwaysReadableFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		cg := newCgroup(t)
		events, err := os.Open(filepath.Join(cg, "cgroup.events"))
		require.NoError(t, err)
		defer events.Close()
		fd := int(events.Fd())
		readAll := func() {
			_, err := events.ReadAt(make([]byte, 512), 0)
			require.ErrorIs(t, err, io.EOF)
		}
		readAll() // a file not read since it was opened has news

		_, err = s.Register(events, EVENT_READ, nil)
		require.NoError(t, err)
		waitFor(t, s, map[int]Events{fd: EVENT_READ})
		_, err = s.Modify(events, EVENT_URGENT, nil)
		require.NoError(t, err)
		assertQuiet(t, s, 100*time.Millisecond, "readable, with no news")

		require.NoError(t, os.WriteFile(filepath.Join(cg, "cgroup.freeze"), []byte("1"), 0))
		waitFor(t, s, map[int]Events{fd: EVENT_URGENT})
		waitFor(t, s, map[int]Events{fd: EVENT_URGENT}) // until read
		readAll()
		assertQuiet(t, s, 100*time.Millisecond, "the news read")
	})
}

// newCgroup makes an empty cgroup of the cgroup2 hierarchy, removed at the
// end of the test, and returns its directory.
func newCgroup(t *testing.T) string {
	t.Helper()
	root := cgroup2Root(t)
	dir, err := os.MkdirTemp(root, "selectors-test-")
	if err != nil && os.Getenv("SELECTORS_CI") == "" {
		t.Skipf("no cgroup of our own (%v): needs write access to %s, which .ci/run has", err, root)
	}
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, unix.Rmdir(dir)) })
	return dir
}

// cgroup2Root returns where the cgroup2 hierarchy is mounted.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	if os.Getenv("SELECTORS_CI") == "" {
		t.Skip("no cgroup2 hierarchy mounted, which .ci/run has")
	}
	t.Fatal("no cgroup2 hierarchy mounted")
	return ""
}
