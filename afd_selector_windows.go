package selectors

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/windows"
)

func init() {
	backends[byAFD] = backend{"afd", func() (Selector, error) { return asSelector(NewAFDSelector()) }}
}

// AFDSelector is a Selector over the Winsock driver's own readiness
// polling (IOCTL_AFD_POLL on \Device\Afd, completing to an I/O completion
// port), the mechanism beneath WSAPoll and select, and the one wepoll,
// libuv, mio and Java's NIO use. A Select costs time in proportion to the
// sockets ready, not to the sockets registered. It is the default on
// Windows.
//
// It takes sockets only (SOCKET handles, and the net package's TCP and
// UDP connections and listeners) and refuses any other handle at Register
// with ErrInvalidFileObj. EVENT_URGENT is urgent (out-of-band) data
// waiting. A socket whose peer shuts down its side is reported as
// EVENT_READ (a read meets the end of stream); a reset or a failed
// connect as every event registered. A socket closed while registered is
// dropped silently, as epoll drops a closed descriptor: it is reported no
// more, Modify fails on it, and Unregister removes it.
type AFDSelector struct {
	selector
}

// NewAFDSelector returns an AFDSelector, or an error wrapping the
// kernel's when its completion port or its handle to the Winsock driver
// cannot be opened (DefaultSelector then falls back to select).
func NewAFDSelector() (*AFDSelector, error) {
	p, err := newAFDPoller()
	if err != nil {
		return nil, err
	}
	s := &AFDSelector{}
	s.init("afd", p, &afdWaker{port: p.port}, allEvents, time.Millisecond)
	return s, nil
}

// The completion keys of the port: every AFD handle's polls complete
// with afdPollKey, and the waker posts afdWakeKey.
const (
	afdPollKey = 1
	afdWakeKey = 2
)

// afdGroupSize is the most sockets polled through one AFD handle. The
// kernel's cost of cancelling a poll grows with the polls under way on its
// handle (python-trio/trio#1280), so sockets are spread over handles of
// 32, as in wepoll and mio.
const afdGroupSize = 32

// afdGroup is one AFD handle and how many sockets poll through it.
type afdGroup struct {
	h       windows.Handle
	sockets int
}

// afdSocket is the poller's record of a socket: registered, or
// unregistered with a poll still under way, whose completion must be taken
// before the record and its buffer can go.
//
// A socket has one poll under way at most, whatever its registrations:
// AFD loses events when one socket is in two polls at once on one port
// (wepoll#35), so a poll that no longer asks for the right events is
// cancelled, and the next is submitted once its completion is taken.
type afdSocket struct {
	fd        int
	base      windows.Handle // the socket AFD knows it by (see baseSocket)
	group     *afdGroup
	buf       *afdPollBuf
	events    Events // registered; 0 once unregistered
	tag       uint32 // the registration's (see keyTable.newTag)
	polled    uint32 // the AFD events of the poll under way; 0 when none is
	cancelled bool   // the poll under way was cancelled: its completion tells nothing
	closed    bool   // the socket was closed: it is polled no more
	queued    bool   // in the poller's repoll queue
}

// afdReady is a socket with events that a wait found, and the tag of the
// registration they are for.
type afdReady struct {
	fd     int
	tag    uint32
	events Events
}

// afdPoller is the poller of AFDSelector. Every poll of a registered
// socket completes to one port, where wait takes the completions; a
// socket reported is polled again (one-shot polls made level-triggered)
// just before the next wait, once its caller has had the chance to read
// or write what made it ready, so that the poll reports only what holds
// then.
type afdPoller struct {
	port windows.Handle

	// mu guards the records. Register, Modify and Unregister hold the
	// selector's mutex too, but wait does not, as it polls again before it
	// waits and takes the completions after.
	mu      sync.Mutex
	sockets map[int]*afdSocket // by descriptor
	groups  []*afdGroup        // every AFD handle opened
	repoll  []*afdSocket       // reported: to poll again before the next wait
	retry   []*afdSocket       // whose poll told nothing: to poll again at once
	pending int                // polls submitted whose completion is yet to be taken

	// The Select goroutine's own.
	entries []completion
	found   []afdReady // what the waits found that ready has yet to report
	woken   bool       // a wait took the waker's completion and ready has yet to report it
}

func newAFDPoller() (*afdPoller, error) {
	if err := wsaStartup(); err != nil {
		return nil, err
	}
	port, err := windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("selectors: CreateIoCompletionPort: %w", err)
	}
	p := &afdPoller{port: port, sockets: make(map[int]*afdSocket)}
	// Open the first AFD handle now, so that a system without one fails
	// here, where DefaultSelector falls back to select, rather than at
	// the first Register.
	if _, err := p.group(); err != nil {
		windows.CloseHandle(port)
		return nil, err
	}
	afdKeptMu.Lock()
	afdLive[p] = struct{}{}
	afdKeptMu.Unlock()
	return p, nil
}

// group returns an AFD handle with room for one more socket, opening one
// if none has.
func (p *afdPoller) group() (*afdGroup, error) {
	for i := len(p.groups) - 1; i >= 0; i-- {
		if g := p.groups[i]; g.sockets < afdGroupSize {
			return g, nil
		}
	}
	h, err := openAFD(p.port, afdPollKey)
	if err != nil {
		return nil, err
	}
	g := &afdGroup{h: h}
	p.groups = append(p.groups, g)
	return g, nil
}

// afdEvents returns the AFD events of a poll for events. Every poll asks
// for the errors, and for the socket's own close, which ends its poll.
func afdEvents(events Events) uint32 {
	e := uint32(afdPollAbort | afdPollConnectFail | afdPollLocalClose)
	if events&EVENT_READ != 0 {
		e |= afdPollReceive | afdPollAccept | afdPollDisconnect
	}
	if events&EVENT_WRITE != 0 {
		e |= afdPollSend
	}
	if events&EVENT_URGENT != 0 {
		e |= afdPollReceiveExpedited
	}
	return e
}

// readyEvents returns the events that the AFD events of a completed poll
// make ready. A reset or a failed connect is every event: the caller's
// next operation, whichever it is, meets the error.
func readyEvents(afd uint32) Events {
	var e Events
	if afd&(afdPollReceive|afdPollAccept|afdPollDisconnect) != 0 {
		e |= EVENT_READ
	}
	if afd&afdPollSend != 0 {
		e |= EVENT_WRITE
	}
	if afd&afdPollReceiveExpedited != 0 {
		e |= EVENT_URGENT
	}
	if afd&(afdPollAbort|afdPollConnectFail) != 0 {
		e |= allEvents
	}
	return e
}

func (p *afdPoller) add(fd int, events Events, tag uint32) error {
	h := windows.Handle(fd)
	// AFD polls sockets only. SIO_BASE_HANDLE would tell, but Wine
	// answers it for any handle.
	if _, err := windows.GetsockoptInt(h, windows.SOL_SOCKET, soType); err != nil {
		return fmt.Errorf("%w: handle %d is not a socket: %w", ErrInvalidFileObj, fd, err)
	}
	base, err := baseSocket(h)
	if err != nil {
		return fmt.Errorf("selectors: SIO_BASE_HANDLE of socket %d: %w", fd, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sockets[fd]
	if s == nil {
		g, err := p.group()
		if err != nil {
			return err
		}
		g.sockets++
		s = &afdSocket{fd: fd, group: g, buf: new(afdPollBuf)}
		p.sockets[fd] = s
	}
	// Else the socket was unregistered and its poll has yet to complete:
	// the record, and its place in the group, serve again.
	s.base, s.events, s.tag, s.closed = base, events, tag, false
	if err := p.update(s); err != nil {
		p.unregister(s)
		return err
	}
	return nil
}

func (p *afdPoller) modify(fd int, _, events Events, _ uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sockets[fd]
	if s.closed {
		return fmt.Errorf("selectors: modify socket %d: it was closed: %w", fd, windows.WSAENOTSOCK)
	}
	s.events = events
	return p.update(s)
}

func (p *afdPoller) remove(fd int, _ Events) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sockets[fd]; s != nil {
		p.unregister(s)
	}
	return nil
}

// update makes the poll of a registered socket ask for its events: it
// submits one if none is under way, or cancels the one under way if that
// lacks any (the completion of the cancel submits the next).
func (p *afdPoller) update(s *afdSocket) error {
	want := afdEvents(s.events)
	switch {
	case s.polled == 0:
		return p.submit(s)
	case s.cancelled:
		return nil
	case want&^s.polled == 0:
		// The poll under way asks for all that is wanted, and maybe
		// more: if it completes for what is no longer wanted, the next
		// is submitted at once.
		return nil
	}
	return p.cancel(s)
}

// submit starts a poll of s for its events.
func (p *afdPoller) submit(s *afdSocket) error {
	want := afdEvents(s.events)
	// The socket's descriptor comes back as the completion's
	// lpOverlapped: one poll under way per socket makes it unique.
	if err := s.buf.submit(s.group.h, s.base, want, uintptr(s.fd)); err != nil {
		return fmt.Errorf("selectors: IOCTL_AFD_POLL socket %d: %w", s.fd, err)
	}
	s.polled = want
	p.pending++
	return nil
}

func (p *afdPoller) cancel(s *afdSocket) error {
	if err := s.buf.cancel(s.group.h); err != nil {
		return fmt.Errorf("selectors: cancel the poll of socket %d: %w", s.fd, err)
	}
	s.cancelled = true
	return nil
}

// unregister marks s unregistered, and lets it go unless its poll has yet
// to complete.
func (p *afdPoller) unregister(s *afdSocket) {
	s.events = 0
	if s.polled == 0 {
		p.forget(s)
		return
	}
	if !s.cancelled {
		// Should the cancel fail, the poll ends when an event comes or
		// the socket is closed, and its completion only lets the record
		// go; a Register meanwhile finds it not cancelled, and cancels it
		// if it lacks an event.
		_ = p.cancel(s)
	}
}

// forget lets go of a record without a poll under way.
func (p *afdPoller) forget(s *afdSocket) {
	delete(p.sockets, s.fd)
	s.group.sockets--
}

// reserve makes room for a completion per registered socket and the
// waker's.
func (p *afdPoller) reserve(registered int) {
	if n := registered + 1; n > len(p.entries) {
		p.entries = make([]completion, max(n, 2*len(p.entries)))
	}
}

func (p *afdPoller) wait(timeout time.Duration) (int, error) {
	// retry is empty here unless a wait failed before it was done with it.
	if err := p.submitQueued(&p.retry); err != nil {
		return 0, err
	}
	if err := p.submitQueued(&p.repoll); err != nil {
		return 0, err
	}
	ms := uint32(windows.INFINITE)
	if timeout >= 0 {
		// Rounded up, so as not to return early; maxWait keeps it below
		// INFINITE.
		ms = uint32((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	if len(p.found) > 0 || p.woken {
		ms = 0 // a wait that failed left them for ready
	}
	for pass := 0; ; pass++ {
		n, err := getCompletions(p.port, p.entries, ms)
		if err != nil {
			return 0, err
		}
		p.complete(p.entries[:n])
		// The polls cancelled by Modify or Register, or completed for
		// events no longer wanted, told nothing: poll those sockets
		// again now, and take the polls that complete at once, so that
		// a Select(0) right after a Modify reports what holds. The
		// passes are bounded, in case a poll kept completing with
		// nothing to tell; what remains is polled at the next wait.
		if len(p.retry) == 0 || pass == afdRetryPasses {
			p.repoll = append(p.repoll, p.retry...)
			clear(p.retry)
			p.retry = p.retry[:0]
			return len(p.found), nil
		}
		if err := p.submitQueued(&p.retry); err != nil {
			return 0, err
		}
		ms = 0
	}
}

// afdRetryPasses bounds the passes of a wait that polls sockets again.
const afdRetryPasses = 3

// submitQueued polls again the sockets in the queue q.
func (p *afdPoller) submitQueued(q *[]*afdSocket) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range *q {
		if s.events == 0 || s.closed || s.polled != 0 {
			s.queued = false
			continue
		}
		if err := p.submit(s); err != nil {
			if closedStatus(err) {
				// Closed since its last poll, and before a new one could
				// learn of it.
				s.closed, s.queued = true, false
				continue
			}
			// It stays queued, with those after it: the next Select
			// tries again, and meets the error again if it lasts.
			*q = append((*q)[:0], (*q)[i:]...)
			return err
		}
		s.queued = false
	}
	clear(*q)
	*q = (*q)[:0]
	return nil
}

// closedStatus reports whether a poll's submission failed because its
// socket is closed: STATUS_INVALID_HANDLE on Windows,
// STATUS_OBJECT_TYPE_MISMATCH under Wine.
func closedStatus(err error) bool {
	return errors.Is(err, windows.STATUS_INVALID_HANDLE) || errors.Is(err, windows.STATUS_OBJECT_TYPE_MISMATCH)
}

// complete takes in the completions of a wait: the sockets ready go to
// found, and to repoll, to be polled again before the next wait; those
// whose poll tells nothing for the caller go to retry, to be polled
// again at once.
func (p *afdPoller) complete(entries []completion) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range entries {
		e := &entries[i]
		if e.key == afdWakeKey {
			p.woken = true
			continue
		}
		s := p.sockets[int(e.overlapped)]
		if s == nil || s.polled == 0 {
			continue // not ours: nothing else completes to the port
		}
		p.pending--
		s.polled = 0
		cancelled := s.cancelled
		s.cancelled = false
		var m Events
		switch {
		case s.events == 0:
			p.forget(s) // unregistered while its poll was under way
			continue
		case cancelled, s.buf.iosb.Status == windows.STATUS_CANCELLED:
			// Cancelled here, or elsewhere (Winsock's documentation says
			// that the I/O a thread started may be cancelled when it
			// exits, and Go ends the thread of a goroutine that exits
			// locked to it): poll again.
		case s.buf.iosb.Status != windows.STATUS_SUCCESS:
			// The poll itself failed: an error on the socket, as wepoll
			// reports it.
			m = s.events
		case s.buf.info.numberOfHandles > 0:
			ev := s.buf.info.handles[0].events
			if ev&afdPollLocalClose != 0 {
				s.closed = true
				continue
			}
			m = readyEvents(ev) & s.events
		}
		if s.queued {
			// Queued by an earlier pass of this wait, then polled by a
			// Modify: its readiness comes with the poll that its queue
			// submits again.
			continue
		}
		s.queued = true
		if m == 0 {
			p.retry = append(p.retry, s)
			continue
		}
		p.found = append(p.found, afdReady{s.fd, s.tag, m})
		p.repoll = append(p.repoll, s)
	}
}

func (p *afdPoller) ready(dst []Ready, keys *keyTable, _ int) ([]Ready, bool) {
	// appendReady masks the events with the key's, skips the sockets
	// unregistered since the wait, and merges the two finds of one socket
	// that a failed wait can leave; the tag skips those registered again.
	keys.beginPass()
	for _, r := range p.found {
		if keys.tag(r.fd) == r.tag {
			dst, _ = keys.appendReady(dst, r.fd, r.events)
		}
	}
	p.found = p.found[:0]
	woken := p.woken
	p.woken = false
	return dst, woken
}

// owns reports whether fd is one of the AFD handles (the port is the
// waker's).
func (p *afdPoller) owns(fd int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.groups {
		if fd == int(g.h) {
			return true
		}
	}
	return false
}

// afdCloseWait bounds how long close waits for the completions of the
// polls it cancels, which come at once.
const afdCloseWait = 5 * time.Second

// The kernel writes a poll's buffer whenever the poll completes, so the
// garbage collector must never hand it to anything else before then:
// afdLive keeps every poller reachable, with its records and their
// buffers, from its making to its close, since a selector dropped without
// Close leaves its polls under way for good; afdAbandoned keeps for the
// life of the process the records of the polls whose completion close
// never saw.
var (
	afdKeptMu    sync.Mutex
	afdLive      = make(map[*afdPoller]struct{})
	afdAbandoned []*afdSocket
)

// close cancels every poll under way, takes their completions, and only
// then closes the handles.
func (p *afdPoller) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, g := range p.groups {
		// Should it fail, the polls of g end with its handle's close,
		// after the wait below: their records are kept for good.
		if err := cancelAll(g.h); err != nil {
			errs = append(errs, fmt.Errorf("selectors: cancel the polls of an AFD handle: %w", err))
		}
	}
	entries := make([]completion, 64)
	for end := time.Now().Add(afdCloseWait); p.pending > 0 && time.Now().Before(end); {
		n, err := getCompletions(p.port, entries, 100)
		if err != nil {
			errs = append(errs, err)
			break
		}
		for _, e := range entries[:n] {
			if s := p.sockets[int(e.overlapped)]; e.key == afdPollKey && s != nil && s.polled != 0 {
				s.polled = 0
				p.pending--
			}
		}
	}
	afdKeptMu.Lock()
	for _, s := range p.sockets {
		if s.polled != 0 {
			afdAbandoned = append(afdAbandoned, s)
		}
	}
	delete(afdLive, p)
	afdKeptMu.Unlock()
	if p.pending > 0 {
		errs = append(errs, fmt.Errorf("selectors: close: %d AFD polls did not complete when cancelled", p.pending))
	}
	clear(p.sockets)
	for _, g := range p.groups {
		if err := windows.CloseHandle(g.h); err != nil {
			errs = append(errs, fmt.Errorf("selectors: close an AFD handle: %w", err))
		}
	}
	p.groups = nil
	if err := windows.CloseHandle(p.port); err != nil {
		errs = append(errs, fmt.Errorf("selectors: close the completion port: %w", err))
	}
	return errors.Join(errs...)
}

// afdWaker wakes a wait by posting a completion of its own to the
// poller's port, which is the poller's to close.
type afdWaker struct {
	port windows.Handle
	// posted is set while a wake's completion is in the port, or taken
	// and not yet drained: the wakes meanwhile coalesce into it.
	posted atomic.Bool
}

func (w *afdWaker) wake() error {
	if w.posted.Swap(true) {
		return nil
	}
	if err := windows.PostQueuedCompletionStatus(w.port, 0, afdWakeKey, nil); err != nil {
		w.posted.Store(false)
		return fmt.Errorf("selectors: PostQueuedCompletionStatus: %w", err)
	}
	return nil
}

// drain follows the taking of the wake's completion.
func (w *afdWaker) drain() { w.posted.Store(false) }

func (w *afdWaker) owns(fd int) bool { return fd == int(w.port) }

func (w *afdWaker) close() error { return nil }
