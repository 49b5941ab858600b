package selectors

import (
	"maps"
	"net"
	"runtime"
	"testing"
	"time"
	"weak"

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
	afd, err := openAFD(port, afdPollKey)
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
		require.Equal(t, uintptr(afdPollKey), e.key)
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

// afdPollerOf returns the poller of an AFD selector.
func afdPollerOf(t *testing.T) (*AFDSelector, *afdPoller) {
	t.Helper()
	s, err := NewAFDSelector()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s, s.p.(*afdPoller)
}

// record returns a copy of the poller's record of fd, and whether there
// is one.
func (p *afdPoller) record(fd int) (afdSocket, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sockets[fd]; s != nil {
		return *s, true
	}
	return afdSocket{}, false
}

func (p *afdPoller) pendingPolls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// A Modify that asks for an event the poll under way lacks cancels that
// poll; its completion, which tells nothing, brings the next poll, in the
// same Select. A Modify to fewer events keeps the poll under way, and when
// that completes for an event no longer wanted, nothing is reported and
// the next poll asks for what is.
func TestAFDModifyCancelsPoll(t *testing.T) {
	s, p := afdPollerOf(t)
	a, b := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil) // writable, not readable
	require.NoError(t, err)
	assert.Empty(t, selectNow(t, s))

	_, err = s.Modify(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	r, _ := p.record(a)
	assert.True(t, r.cancelled, "the poll for EVENT_READ alone was not cancelled")
	assert.Equal(t, 1, p.pendingPolls(), "a second poll was submitted before the first completed")
	assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))

	fillEnd(t, a)
	assert.Empty(t, selectNow(t, s))
	r, _ = p.record(a)
	polled := r.polled
	_, err = s.Modify(a, EVENT_READ, nil)
	require.NoError(t, err)
	r, _ = p.record(a)
	assert.False(t, r.cancelled, "a poll that asks for more than is wanted was cancelled")
	assert.Equal(t, polled, r.polled)

	drainEnd(t, b) // a writable: its poll completes for EVENT_WRITE
	rs, err := s.Select(300 * time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, rs)
	r, _ = p.record(a)
	assert.Equal(t, afdEvents(EVENT_READ), r.polled)
}

// The scenario of wepoll#35: unregistered and registered again while the
// first poll is under way, a socket gets its next poll only once the
// cancelled one completes, and is reported.
func TestAFDRegisterAgainWhilePollPending(t *testing.T) {
	s, p := afdPollerOf(t)
	a, b := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	_, err = s.Unregister(a)
	require.NoError(t, err)
	_, err = s.Register(a, EVENT_READ, "again")
	require.NoError(t, err)
	assert.Equal(t, 1, p.pendingPolls())
	assert.Empty(t, selectNow(t, s))

	writeEnd(t, b, []byte("x"))
	waitFor(t, s, map[int]Events{a: EVENT_READ})
	_, err = s.Unregister(a)
	require.NoError(t, err)
	assert.Empty(t, selectNow(t, s))
	_, ok := p.record(a)
	assert.False(t, ok, "the record outlived its last poll")
}

// A poll cancelled by anything but the poller (the exit of the thread
// that submitted it, say) tells nothing: the socket is polled again, not
// reported.
func TestAFDPollCancelledElsewhere(t *testing.T) {
	s, p := afdPollerOf(t)
	a, b := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	require.NoError(t, cancelAll(p.groups[0].h))
	rs, err := s.Select(100 * time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, rs)
	r, _ := p.record(a)
	assert.Equal(t, afdEvents(EVENT_READ), r.polled, "not polled again")
	writeEnd(t, b, []byte("x"))
	waitFor(t, s, map[int]Events{a: EVENT_READ})
}

// A socket still ready is reported by every Select, once, and after the
// read only for what still holds.
func TestAFDStillReadyReportedBySelects(t *testing.T) {
	s, _ := afdPollerOf(t)
	a, b := socketPair(t)
	_, err := s.Register(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	writeEnd(t, b, []byte("ping"))
	waitFor(t, s, map[int]Events{a: EVENT_READ | EVENT_WRITE})
	for i := range 20 {
		timeout := []time.Duration{0, -1, time.Second}[i%3]
		rs, err := s.Select(timeout)
		require.NoError(t, err)
		require.Len(t, rs, 1, "Select %d (%v)", i, timeout)
		assert.Equal(t, EVENT_READ|EVENT_WRITE, rs[0].Mask, "Select %d (%v)", i, timeout)
	}
	assert.Equal(t, []byte("ping"), readEnd(t, a, 16))
	assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))
}

// A socket closed while registered is dropped: Select goes on reporting
// the others, Modify fails on it and drops its key, Unregister removes
// it.
func TestAFDSocketClosedWhileRegistered(t *testing.T) {
	s, p := afdPollerOf(t)
	a, b := socketPair(t)
	c, _ := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	_, err = s.Register(b, EVENT_WRITE, nil)
	require.NoError(t, err)
	_, err = s.Register(c, EVENT_READ, nil)
	require.NoError(t, err)
	closeEnd(t, a)
	closeEnd(t, c)

	waitFor(t, s, map[int]Events{b: EVENT_WRITE})
	assert.Equal(t, map[int]Events{b: EVENT_WRITE}, selectNow(t, s))
	r, _ := p.record(a)
	assert.True(t, r.closed, "the poll did not report the close")
	assert.Zero(t, r.polled)

	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.ErrorIs(t, err, windows.WSAENOTSOCK)
	_, err = s.GetKey(a)
	require.ErrorIs(t, err, ErrNotRegistered)
	_, err = s.Unregister(c)
	require.NoError(t, err)
	assert.Equal(t, map[int]SelectorKey{b: {FileObj: b, FD: b, Events: EVENT_WRITE}}, s.GetMap())
	for _, fd := range []int{a, c} {
		_, ok := p.record(fd)
		assert.False(t, ok, "socket %d is still recorded", fd)
	}
}

// Close with polls under way and a Select blocked on them cancels every
// poll and takes every completion before it closes the handles.
func TestAFDCloseWithPollsPending(t *testing.T) {
	s, err := NewAFDSelector()
	require.NoError(t, err)
	p := s.p.(*afdPoller)
	const pairs = 100 // over three AFD handles
	for range pairs {
		a, b := socketPair(t)
		_, err := s.Register(a, EVENT_READ, nil)
		require.NoError(t, err)
		_, err = s.Register(b, EVENT_READ, nil)
		require.NoError(t, err)
	}
	ch := blockedSelect(s, -1)
	assert.Equal(t, 2*pairs, p.pendingPolls())
	assert.Len(t, p.groups, (2*pairs+afdGroupSize-1)/afdGroupSize)

	require.NoError(t, s.Close())
	r := await(t, ch)
	require.ErrorIs(t, r.err, ErrClosed)
	assert.Zero(t, p.pendingPolls(), "Close let polls go under way")
	assert.Empty(t, p.sockets)
	afdKeptMu.Lock()
	assert.Empty(t, afdAbandoned, "Close abandoned polls")
	assert.NotContains(t, afdLive, p, "a closed poller is kept")
	afdKeptMu.Unlock()
}

// A selector dropped without Close leaves its polls under way, and the
// kernel writes their buffers when they complete, at any time: the garbage
// collector must not take them meanwhile. Once closed, it may.
func TestAFDSelectorDroppedWithoutCloseIsKept(t *testing.T) {
	a, b := socketPair(t)
	dropped := func() weak.Pointer[afdPoller] {
		s, err := NewAFDSelector()
		require.NoError(t, err)
		_, err = s.Register(a, EVENT_READ, nil)
		require.NoError(t, err)
		p := s.p.(*afdPoller)
		require.Equal(t, 1, p.pendingPolls())
		return weak.Make(p)
	}()
	runtime.GC()
	runtime.GC()
	p := dropped.Value()
	require.NotNil(t, p, "the poller of a selector dropped without Close was collected, its poll under way")

	// Its poll completes into its buffer, which is still its own.
	writeEnd(t, b, []byte("x"))
	require.NoError(t, p.close())
	assert.Zero(t, p.pendingPolls())
	p = nil
	runtime.GC()
	runtime.GC()
	assert.Nil(t, dropped.Value(), "a closed poller is still kept")
}

// As many sockets as Wine lets a process have, up to 10,000, each with a
// poll under way: those made readable are reported, and only those.
func TestAFDManySockets(t *testing.T) {
	const most = 10_000
	s, p := afdPollerOf(t)
	start := time.Now()
	ends := connectedPairs(t, most/2)
	t.Logf("%d sockets in %v", len(ends), time.Since(start))
	require.GreaterOrEqual(t, len(ends), 2_000, "too few sockets to test")
	for _, fd := range ends {
		_, err := s.Register(fd, EVENT_READ, nil)
		require.NoError(t, err)
	}
	assert.Empty(t, selectNow(t, s))
	assert.Equal(t, len(ends), p.pendingPolls())

	// Every event on a socket costs Wine a walk over every poll under
	// way: a few hundred writes, not thousands.
	want := map[int]Events{}
	for i := 0; i < len(ends); i += 50 {
		writeEnd(t, ends[i+1], []byte("x"))
		want[ends[i]] = EVENT_READ
	}
	got := map[int]Events{}
	for end := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(end); {
		rs, err := s.Select(100 * time.Millisecond)
		require.NoError(t, err)
		for fd, ev := range checkReady(t, s, rs) {
			got[fd] = ev
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, want, selectNow(t, s), "level-triggered: still readable")
	for fd := range want {
		assert.Equal(t, []byte("x"), readEnd(t, fd, 16))
	}
	assert.Empty(t, selectNow(t, s))
	t.Logf("done in %v", time.Since(start))
	// Closed before the sockets, whose closes would each complete a poll
	// and have Wine walk the others.
	closing := time.Now()
	require.NoError(t, s.Close())
	t.Logf("closed in %v", time.Since(closing))
	assert.Zero(t, p.pendingPolls())
}

// connectedPairs returns the ends of up to n connected loopback TCP
// connections, fewer if the process runs out of sockets, all through one
// listener: quicker than socketPair's listener per pair. The ends block;
// both are closed at the end of the test.
func connectedPairs(t testing.TB, n int) []int {
	t.Helper()
	ln, err := tcpSocket()
	require.NoError(t, err)
	defer windows.Closesocket(ln)
	require.NoError(t, windows.Bind(ln, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, windows.Listen(ln, windows.SOMAXCONN))
	addr, err := windows.Getsockname(ln)
	require.NoError(t, err)
	var ends []int
	for len(ends) < 2*n {
		c, err := tcpSocket()
		if err != nil {
			t.Logf("socket %d: %v", len(ends)+1, err)
			break
		}
		trackEnd(t, int(c))
		if err := windows.Connect(c, addr); err != nil {
			t.Logf("connect %d: %v", len(ends)/2+1, err)
			break
		}
		a, err := acceptSocket(ln)
		if err != nil {
			t.Logf("accept %d: %v", len(ends)/2+1, err)
			break
		}
		trackEnd(t, int(a))
		ends = append(ends, int(a), int(c))
	}
	return ends
}

// AFD polls sockets only: files and pipes are refused at Register.
func TestAFDRefusesNonSockets(t *testing.T) {
	s, p := afdPollerOf(t)
	for _, obj := range nonSockets(t) {
		_, err := s.Register(obj, EVENT_READ, nil)
		require.ErrorIs(t, err, ErrInvalidFileObj, "%T", obj)
		assert.Contains(t, err.Error(), "not a socket")
	}
	for _, h := range []windows.Handle{p.port, p.groups[0].h} {
		_, err := s.Register(int(h), EVENT_READ, nil)
		require.ErrorIs(t, err, ErrInvalidFileObj)
		assert.Contains(t, err.Error(), "belongs to the selector")
	}
	assert.Empty(t, s.GetMap())
	assert.Zero(t, p.pendingPolls())
}

// A failed non-blocking connect is an error, every event registered,
// whatever the registration: every poll asks for AFD_POLL_CONNECT_FAIL.
// (select reports it only to writers and urgent readers, as Python does.)
func TestAFDFailedConnect(t *testing.T) {
	for _, events := range []Events{EVENT_READ, EVENT_WRITE, EVENT_URGENT, allEvents} {
		t.Run(events.String(), func(t *testing.T) {
			s := newTestSelector(t, "afd")
			c := refusedConnect(t)
			_, err := s.Register(c, events, nil)
			require.NoError(t, err)
			waitFor(t, s, map[int]Events{c: events})
		})
	}
}

// Urgent (out-of-band) data is not what a plain read takes: it wakes no
// socket registered for EVENT_READ or EVENT_WRITE alone, neither to be
// reported nor to have Select spin on a poll that completes at once with
// nothing to tell, for AFD is asked for it on behalf of EVENT_URGENT only.
func TestAFDUrgentDataIsNotRead(t *testing.T) {
	s, _ := afdPollerOf(t)
	a, b := socketPair(t)
	fillEnd(t, a) // not writable either
	buf := []byte{'!'}
	var sent uint32
	require.NoError(t, windows.WSASend(windows.Handle(b), &windows.WSABuf{Len: 1, Buf: &buf[0]}, 1, &sent, windows.MSG_OOB, nil, nil))
	require.True(t, waitOOB(t, a), "the urgent byte never arrived")
	_, err := s.Register(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	waits := s.waits
	rs, err := s.Select(200 * time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, rs)
	assert.LessOrEqual(t, s.waits-waits, uint32(2), "Select(200ms) waited %d times", s.waits-waits)
}

// The peer shutting down its side is the end of the stream: a read meets
// it, and a socket with its buffer full is no more writable for it.
func TestAFDPeerShutdownIsRead(t *testing.T) {
	s := newTestSelector(t, "afd")
	a, b := socketPair(t)
	fillEnd(t, a)
	_, err := s.Register(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	assert.Empty(t, selectNow(t, s))
	require.NoError(t, windows.Shutdown(windows.Handle(b), windows.SHUT_WR))
	waitFor(t, s, map[int]Events{a: EVENT_READ})
}

// Datagram sockets, raw: Wine 8 cannot open the net package's.
func TestAFDUDP(t *testing.T) {
	s := newTestSelector(t, "afd")
	testSelectRawUDP(t, s)
}

// A Wakeup is a completion posted to the port; those made before a
// Select coalesce into one.
func TestAFDWakeupsCoalesce(t *testing.T) {
	s, p := afdPollerOf(t)
	for range 100 {
		require.NoError(t, s.Wakeup())
	}
	rs, err := s.Select(-1)
	require.NoError(t, err)
	assert.Empty(t, rs)
	entries := make([]completion, 4)
	n, err := getCompletions(p.port, entries, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "a wake's completion was left in the port")
}
