package selectors

import (
	"maps"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"
)

// afdProbe polls sockets through the system calls of afd_windows.go alone:
// one AFD handle, one completion port.
type afdProbe struct {
	port, afd windows.Handle
	bufs      map[uintptr]*afdPollBuf // by socket: what the kernel writes
}

func newAFDProbe(t *testing.T) *afdProbe {
	t.Helper()
	require.NoError(t, wsaStartup())
	port, err := windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 0)
	require.NoError(t, err)
	afd, err := openAFD(port, 1)
	if err != nil {
		windows.CloseHandle(port)
	}
	require.NoError(t, err)
	p := &afdProbe{port: port, afd: afd, bufs: map[uintptr]*afdPollBuf{}}
	t.Cleanup(func() {
		// Every poll completes before its buffer may go.
		p.take(t, 0)
		windows.CloseHandle(afd)
		windows.CloseHandle(port)
	})
	return p
}

// poll submits a poll of socket s for events.
func (p *afdProbe) poll(t *testing.T, s int, events uint32) *afdPollBuf {
	t.Helper()
	require.Nil(t, p.bufs[uintptr(s)], "socket %d has a poll under way", s)
	base, err := baseSocket(windows.Handle(s))
	require.NoError(t, err)
	b := new(afdPollBuf)
	require.NoError(t, b.submit(p.afd, base, events, uintptr(s)))
	p.bufs[uintptr(s)] = b
	return b
}

// take waits up to ms milliseconds for completions and returns the AFD
// events of each socket whose poll completed (afdPollCancelled for a
// cancelled one).
func (p *afdProbe) take(t *testing.T, ms uint32) map[int]uint32 {
	t.Helper()
	got := map[int]uint32{}
	entries := make([]completion, 16)
	n, err := getCompletions(p.port, entries, ms)
	require.NoError(t, err)
	for _, e := range entries[:n] {
		require.Equal(t, uintptr(1), e.key)
		b := p.bufs[e.overlapped]
		require.NotNil(t, b, "a completion for socket %d, which has no poll under way", e.overlapped)
		delete(p.bufs, e.overlapped)
		switch b.iosb.Status {
		case windows.STATUS_CANCELLED:
			got[int(e.overlapped)] = afdPollCancelled
		case windows.STATUS_SUCCESS:
			require.Equal(t, uint32(1), b.info.numberOfHandles)
			got[int(e.overlapped)] = b.info.handles[0].events
		default:
			t.Fatalf("poll of socket %d failed: %v", e.overlapped, b.iosb.Status)
		}
	}
	return got
}

// afdPollCancelled stands for a cancelled poll in afdProbe.take's results.
const afdPollCancelled = 1 << 31

// The mechanism beneath AFDSelector, event by event: each poll completes
// to the port at once when its socket is ready, else when it becomes so,
// with the events that hold among those asked for.
func TestAFDPollEvents(t *testing.T) {
	p := newAFDProbe(t)
	a, b := socketPair(t)
	const connected = afdPollReceive | afdPollSend | afdPollDisconnect | afdPollAbort | afdPollLocalClose

	p.poll(t, a, connected)
	assert.Equal(t, map[int]uint32{a: afdPollSend}, p.take(t, 1000), "a connected socket is writable at once")

	p.poll(t, b, afdPollReceive)
	assert.Empty(t, p.take(t, 0), "nothing to read yet")
	writeEnd(t, a, []byte("x"))
	assert.Equal(t, map[int]uint32{b: afdPollReceive}, p.take(t, 1000))
	p.poll(t, b, afdPollReceive)
	assert.Equal(t, map[int]uint32{b: afdPollReceive}, p.take(t, 0), "polled again, still readable: completes at once")
	drainEnd(t, b)

	buf := []byte{'!'}
	var sent uint32
	require.NoError(t, windows.WSASend(windows.Handle(a), &windows.WSABuf{Len: 1, Buf: &buf[0]}, 1, &sent, windows.MSG_OOB, nil, nil))
	p.poll(t, b, afdPollReceiveExpedited)
	assert.Equal(t, map[int]uint32{b: afdPollReceiveExpedited}, p.take(t, 1000), "urgent data")

	fillEnd(t, b)
	p.poll(t, b, afdPollDisconnect|afdPollSend)
	require.NoError(t, windows.Shutdown(windows.Handle(a), windows.SHUT_WR))
	assert.Equal(t, map[int]uint32{b: afdPollDisconnect}, p.take(t, 1000), "the peer shut down its side")

	c, d := socketPair(t)
	fillEnd(t, d) // unread data makes c's close a reset
	p.poll(t, d, afdPollAbort|afdPollSend)
	closeEnd(t, c)
	assert.Equal(t, uint32(afdPollAbort), p.take(t, 1000)[d]&afdPollAbort, "the peer reset the connection")

	e, _ := socketPair(t)
	p.poll(t, e, afdPollReceive|afdPollLocalClose)
	closeEnd(t, e)
	assert.Equal(t, map[int]uint32{e: afdPollLocalClose}, p.take(t, 1000), "closed here while polled")
}

// A listener is ready when a connection waits to be accepted, and a
// non-blocking connect that fails completes its poll with
// AFD_POLL_CONNECT_FAIL.
func TestAFDPollAcceptAndConnectFail(t *testing.T) {
	p := newAFDProbe(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	lfd, err := connDescriptor(ln.(*net.TCPListener))
	require.NoError(t, err)
	p.poll(t, lfd, afdPollAccept)
	assert.Empty(t, p.take(t, 0))
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, map[int]uint32{lfd: afdPollAccept}, p.take(t, 1000))

	s := refusedConnect(t)
	p.poll(t, s, afdPollSend|afdPollConnectFail)
	assert.Equal(t, map[int]uint32{s: afdPollConnectFail}, p.take(t, 2000))
}

// refusedConnect returns a socket whose non-blocking connect to a port
// where nothing listens is under way.
func refusedConnect(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close()) // nothing listens there now
	c, err := tcpSocket()
	require.NoError(t, err)
	trackEnd(t, int(c))
	require.NoError(t, setNonblock(c))
	err = windows.Connect(c, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
	require.ErrorIs(t, err, windows.WSAEWOULDBLOCK)
	return int(c)
}

// A cancelled poll completes, with STATUS_CANCELLED, and cancelling one
// that completed already is no error.
func TestAFDPollCancel(t *testing.T) {
	p := newAFDProbe(t)
	a, _ := socketPair(t)
	buf := p.poll(t, a, afdPollReceive)
	assert.Empty(t, p.take(t, 0))
	require.NoError(t, buf.cancel(p.afd))
	assert.Equal(t, map[int]uint32{a: afdPollCancelled}, p.take(t, 1000))

	buf = p.poll(t, a, afdPollSend)
	assert.Equal(t, map[int]uint32{a: afdPollSend}, p.take(t, 1000))
	require.NoError(t, buf.cancel(p.afd), "STATUS_NOT_FOUND is no error")
	assert.Empty(t, p.take(t, 0))

	// Every poll under way on the handle at once.
	b, c := socketPair(t)
	p.poll(t, a, afdPollReceive)
	p.poll(t, b, afdPollReceive)
	p.poll(t, c, afdPollReceive)
	require.NoError(t, cancelAll(p.afd))
	got := p.take(t, 1000)
	for len(got) < 3 {
		more := p.take(t, 1000)
		if len(more) == 0 {
			break
		}
		maps.Copy(got, more)
	}
	assert.Equal(t, map[int]uint32{a: afdPollCancelled, b: afdPollCancelled, c: afdPollCancelled}, got)
	require.NoError(t, cancelAll(p.afd), "nothing to cancel is no error")
}
