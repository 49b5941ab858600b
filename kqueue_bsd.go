//go:build darwin || ios || dragonfly || freebsd || netbsd || openbsd

package selectors

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	backends[byKqueue] = backend{"kqueue", func() (Selector, error) { return asSelector(NewKqueueSelector()) }}
}

// KqueueSelector is a Selector over the kqueue of macOS and the BSDs,
// level-triggered, with a kernel filter per event registered: EVFILT_READ,
// EVFILT_WRITE, and for EVENT_URGENT, EVFILT_EXCEPT with NOTE_OOB. Its cost
// per Select follows the number of ready descriptors, not the number
// registered. Unlike Python's KqueueSelector, it returns one Ready for a
// descriptor ready both to read and to write, not two.
//
// EVENT_URGENT is urgent (out-of-band) TCP data on macOS, OpenBSD (since
// 6.8) and DragonFly, and on OpenBSD also a pseudo-terminal master's
// status change in packet mode. Their EVFILT_EXCEPT watches sockets (and
// OpenBSD's pseudo-terminal masters) only: for any other file Register and
// Modify return the kernel's refusal (EINVAL; EOPNOTSUPP on DragonFly) and
// leave nothing registered, as epoll refuses regular files; poll and
// select take such files and never report them. As poll and select do on
// these kernels, the condition lasts from the urgent data's arrival until
// the reader has read past its mark in the stream (SIOCATMARK), which may
// be after it read the urgent byte; on Linux it ends when the urgent byte
// is read. On OpenBSD and DragonFly the filter reports the urgent
// condition only: a socket registered for EVENT_URGENT alone meets its
// error at its next operation, as with select. FreeBSD and NetBSD have no
// such filter: there Register and Modify refuse EVENT_URGENT with
// ErrInvalidEvents, and the poll and select backends report urgent data.
//
// Where the kernels differ:
//
//   - A pipe whose reader closed is reported to its writer at every
//     Select, as every event registered, as poll reports POLLHUP. FreeBSD,
//     OpenBSD and NetBSD do not wake the write filter of a full pipe for
//     the reader's close, so the selector also watches a pipe registered
//     for EVENT_WRITE without EVENT_READ there with a read filter on its
//     writing end, as Go's runtime does, and takes that filter's end of
//     file for the hang-up, which it reports until Unregister or Modify.
//     NetBSD kernels that refuse a read filter on a writing end
//     (sys_pipe.c 1.165, from October 2023) tell neither end of a pipe
//     through kqueue that the other end closed; the poll and select
//     backends see it there. FreeBSD takes a read filter on a FIFO opened
//     for writing only but never fires it (pipe_kqfilter's pipe_nfiltops),
//     so such a FIFO's writer is not told either. A pipe registered for
//     both events has no guard: its read filter's end of file is reported
//     as EVENT_READ, not as every event registered.
//   - A hang-up that the kernel reports once and then drops the filter
//     (EV_ONESHOT: FreeBSD when a pipe's reader closes or a terminal goes
//     away, every kernel when a file is revoked) is likewise reported by
//     every Select until Unregister or Modify.
//   - Registering EVENT_WRITE for a pipe whose reader has closed is refused
//     with the kernel's error: EPIPE on FreeBSD, DragonFly and older
//     OpenBSD, EBADF on NetBSD (sys_pipe.c 1.160 and 1.165). macOS and
//     newer OpenBSD (sys_pipe.c 1.146, 2023) take it and report the pipe
//     writable; a write then fails with EPIPE. The same refusal can fail a
//     Modify of such a pipe, which then drops the registration.
//   - A regular file is reported readable by poll and select always, by
//     kqueue only before its end. The selector asks FreeBSD
//     (NOTE_FILE_POLL) and OpenBSD (NOTE_EOF) for poll's behaviour; on
//     macOS, NetBSD and DragonFly a regular file read to its end is not
//     reported readable until it grows.
//   - On FreeBSD a pseudo-terminal master in packet mode (TIOCPKT) is not
//     reported readable for a pending status byte alone, which a read
//     returns and poll reports as POLLIN: the master's read filter counts
//     the terminal's output only (pts_kqops_read_event in tty_pts.c).
type KqueueSelector struct {
	selector
}

// NewKqueueSelector returns a KqueueSelector, or the kernel's error
// wrapped (EMFILE when the process is out of descriptors).
func NewKqueueSelector() (*KqueueSelector, error) {
	fd, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("selectors: kqueue: %w", err)
	}
	unix.CloseOnExec(fd)
	w, wfd, err := newKqueueWaker(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s := &KqueueSelector{}
	s.init("kqueue", &kqueue{fd: fd, wfd: wfd}, w, kqueueEvents, time.Nanosecond)
	return s, nil
}

// Fileno returns the kqueue descriptor, or -1 once the selector is closed.
// Like Python's fileno, it is for the caller to watch, never to close.
func (s *KqueueSelector) Fileno() int {
	if !s.core().isOpen() {
		return -1
	}
	return s.p.(*kqueue).fd
}

// kqueue is the poller of KqueueSelector.
type kqueue struct {
	fd     int
	wfd    int             // the waker's descriptor, or -1 if it has none (see isWake)
	events []unix.Kevent_t // filled by wait, read by ready
	ts     unix.Timespec   // wait's timeout, here so that a wait allocates nothing

	// hungUp holds the registered descriptors whose hang-up the kernel
	// reported once, dropping a filter (EV_ONESHOT) or through an
	// edge-triggered pipe guard: ready reports them at every Select until
	// Unregister or Modify, as level-triggered readiness is reported. It is
	// guarded by the selector's mutex, as add, modify, remove and ready are
	// called; nHungUp is its length, for wait, which runs without it.
	hungUp  map[int]struct{}
	nHungUp atomic.Int32

	rearm exceptRearm // Darwin's except filters to add again before a wait
}

// filter is one kqueue filter that the selector adds for a registration.
type filter struct {
	id     int    // EVFILT_READ, EVFILT_WRITE or EVFILT_EXCEPT
	flags  int    // besides EV_ADD: EV_CLEAR for an edge-triggered one
	fflags uint32 // the filter's own flags (NOTE_OOB, NOTE_FILE_POLL, ...)
	name   string // for errors
}

// same reports whether f and g are one kernel filter set up alike, so
// that a Modify from one to the other keeps it. Flags cannot change on a
// filter that exists (EV_CLEAR stays as it was added), so a filter whose
// flags change is deleted and added again.
func (f filter) same(g filter) bool { return f.id == g.id && f.flags == g.flags }

// maxFilters bounds the filters of one registration: a read filter (or
// the pipe guard), a write filter and an except filter.
const maxFilters = 3

// pipeGuard is the read filter that watches a pipe's writing end
// registered without EVENT_READ where the write filter misses the
// reader's close (see guardPipes): edge-triggered, so that data that
// someone writes into a pipe's reading end (pipes go both ways on FreeBSD
// and OpenBSD) does not keep every wait returning, and taken by ready for
// the hang-up alone. EV_CLEAR on a read filter marks its events as the
// guard's, since the selector sets it on no other.
var pipeGuard = filter{id: unix.EVFILT_READ, flags: unix.EV_CLEAR, name: "pipe guard"}

// fileKind is what filters a registration needs to know of its file.
type fileKind uint8

const (
	otherFile   fileKind = iota
	regularFile          // S_IFREG: its read filter may take regularFileFflags
	pipeFile             // S_IFIFO: a pipe or a FIFO, which may need pipeGuard
)

// needsKind reports whether filters depends on the kind of file for
// events on this platform: only then does the selector fstat it.
func needsKind(events Events) bool {
	return regularFileFflags != 0 && events&EVENT_READ != 0 ||
		guardPipes && events&(EVENT_READ|EVENT_WRITE) == EVENT_WRITE
}

// kindOf returns the kind of file fd names: otherFile when fstat fails,
// as for a closed descriptor, whose filters then fail to add anyway.
func kindOf(fd int) fileKind {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return otherFile
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return regularFile
	case unix.S_IFIFO:
		return pipeFile
	}
	return otherFile
}

// filters returns the filters that watch a file of kind k for events, in
// the order they are added: read (or the pipe guard), write, except.
func filters(events Events, k fileKind) (fs [maxFilters]filter, n int) {
	switch {
	case events&EVENT_READ != 0:
		fs[n] = filter{id: unix.EVFILT_READ, name: "read"}
		if k == regularFile {
			fs[n].fflags = regularFileFflags
		}
		n++
	case guardPipes && events&EVENT_WRITE != 0 && k == pipeFile:
		fs[n] = pipeGuard
		n++
	}
	if events&EVENT_WRITE != 0 {
		fs[n] = filter{id: unix.EVFILT_WRITE, name: "write"}
		n++
	}
	if f, ok := urgentFilter(); ok && events&EVENT_URGENT != 0 {
		fs[n] = f
		n++
	}
	return fs, n
}

// keventChange makes one change to the kqueue kq. It passes no event list,
// as Go's runtime and CPython's KqueueSelector do: the kernel then returns
// an error in the change as the call's own instead of as an EV_ERROR event,
// and hands over no pending event in passing. It needs no EV_RECEIPT, which
// x/sys/unix lacks on NetBSD.
func keventChange(kq, ident, filt, flags int, fflags uint32) error {
	var change [1]unix.Kevent_t
	unix.SetKevent(&change[0], ident, filt, flags)
	change[0].Fflags = fflags
	_, err := unix.Kevent(kq, change[:], nil, nil)
	if err == unix.EINTR {
		// FreeBSD's kevent(2): "When kevent() call fails with EINTR error,
		// all changes in the changelist have been applied." With no event
		// list to fill it does not wait, so this is not expected anyway.
		return nil
	}
	return err
}

// addFilters adds fs for fd, one call each, and on failure deletes those
// it added and returns the error. A pipe guard that the kernel refuses
// (EINVAL: NetBSD's sys_pipe.c 1.165 takes no read filter on a pipe's
// writing end) is left out: the registration works without it, as it
// would on a kernel that never needed it, only blind to that hang-up.
func (kq *kqueue) addFilters(fd int, fs []filter) error {
	for i, f := range fs {
		err := keventChange(kq.fd, fd, f.id, unix.EV_ADD|f.flags, f.fflags)
		if err == nil || f == pipeGuard && err == unix.EINVAL {
			continue
		}
		for _, g := range fs[:i] {
			_ = keventChange(kq.fd, fd, g.id, unix.EV_DELETE, 0)
		}
		return fmt.Errorf("kevent add %s fd %d: %w", f.name, fd, err)
	}
	return nil
}

// deleteFilter deletes filter f of fd. A closed descriptor took its
// filters with it (EBADF), or its number now names another file that was
// never added (ENOENT): neither is an error.
func (kq *kqueue) deleteFilter(fd int, f filter) error {
	err := keventChange(kq.fd, fd, f.id, unix.EV_DELETE, 0)
	if err != nil && err != unix.EBADF && err != unix.ENOENT {
		return fmt.Errorf("selectors: kevent delete %s fd %d: %w", f.name, fd, err)
	}
	return nil
}

func (kq *kqueue) add(fd int, events Events, _ uint32) error {
	k := otherFile
	if needsKind(events) {
		k = kindOf(fd)
	}
	fs, n := filters(events, k)
	if err := kq.addFilters(fd, fs[:n]); err != nil {
		return fmt.Errorf("selectors: %w", err)
	}
	return nil
}

// modify deletes the filters no longer wanted, then adds every wanted
// one, those it keeps before the new ones. Adding a filter that is there
// only updates it, and it restores one that went with a descriptor closed
// while registered, whose number a new file took: Modify then watches the
// new file for all its events, as poll does and as Python's modify, an
// unregister and a register, does. Each change is a call of its own,
// because a filter gone that way fails its delete (ENOENT), and kevent
// stops at the first change that fails when it has no event list, leaving
// the changes after it undone.
//
// A failed add deletes what modify added, and the selector's remove of
// the old events, which ignores filters already gone, takes the rest:
// nothing is left behind.
func (kq *kqueue) modify(fd int, old, events Events, _ uint32) error {
	kq.forgetHangUp(fd)
	kq.rearm.forget(fd)
	k := otherFile
	if needsKind(old) || needsKind(events) {
		k = kindOf(fd)
	}
	oldFs, nOld := filters(old, k)
	newFs, nNew := filters(events, k)
	for _, f := range oldFs[:nOld] {
		if !kept(f, newFs[:nNew]) {
			if err := kq.deleteFilter(fd, f); err != nil {
				return err
			}
		}
	}
	var adds [maxFilters]filter
	nAdds := 0
	for _, keep := range [...]bool{true, false} {
		for _, f := range newFs[:nNew] {
			if kept(f, oldFs[:nOld]) == keep {
				adds[nAdds] = f
				nAdds++
			}
		}
	}
	if err := kq.addFilters(fd, adds[:nAdds]); err != nil {
		return fmt.Errorf("selectors: kevent modify fd %d from %v to %v: %w", fd, old, events, err)
	}
	return nil
}

// kept reports whether fs holds a filter the same as f.
func kept(f filter, fs []filter) bool {
	for _, g := range fs {
		if f.same(g) {
			return true
		}
	}
	return false
}

// remove deletes the filters of events, and the pipe guard that a
// registration for EVENT_WRITE alone may have: without an fstat, which a
// closed descriptor would fail, it tries the filters of a pipe.
func (kq *kqueue) remove(fd int, events Events) error {
	kq.forgetHangUp(fd)
	kq.rearm.forget(fd)
	fs, n := filters(events, pipeFile)
	var errs error
	for _, f := range fs[:n] {
		errs = errors.Join(errs, kq.deleteFilter(fd, f))
	}
	return errs
}

// reserve makes room for every filter of every registered descriptor and
// the waker, so that one wait reports all that is ready.
func (kq *kqueue) reserve(registered int) {
	if need := maxFilters*registered + 1; len(kq.events) < need {
		kq.events = make([]unix.Kevent_t, max(need, 2*len(kq.events)))
	}
}

// wait takes the timeout at full resolution. The selector's maxWait (24h)
// keeps it below what Darwin refuses with EINVAL; Go's runtime caps its
// own kevent timeouts at 1e6 seconds for that reason.
func (kq *kqueue) wait(timeout time.Duration) (int, error) {
	kq.rearm.before(kq.fd)
	if kq.nHungUp.Load() != 0 {
		// A hang-up that ready reports again is ready now.
		timeout = 0
	}
	var ts *unix.Timespec
	if timeout >= 0 {
		kq.ts = unix.NsecToTimespec(int64(timeout))
		ts = &kq.ts
	}
	n, err := unix.Kevent(kq.fd, nil, kq.events, ts)
	// Darwin's kevent can fail with ETIMEDOUT where it should return 0
	// events; Go's runtime ignores it too (go.dev/issue/59679). The
	// selector waits again for what remains, if anything does.
	if err == unix.EINTR || err == unix.ETIMEDOUT {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selectors: kevent: %w", err)
	}
	return n, nil
}

// keventEvents is what one kevent says of its descriptor, and whether it
// is a hang-up that the kernel will not report again (see kqueue.hungUp).
//
// An error makes it every event, as POLLERR does for poll, so that the
// caller's next operation meets it: EV_ERROR, or EV_EOF with the socket's
// error in Fflags. An end of file alone is its own filter's event: a read
// filter's (the peer shut its side down) says a read returns 0 at once,
// and the socket may still take writes, or may not yet, as poll's POLLIN
// and epoll's EPOLLIN say; reporting it writable too made a loop that
// waits to write spin while the filter stayed ready.
//
// EV_ONESHOT, which the selector never sets, says that the kernel dropped
// the filter after this event: FreeBSD's knlist_clear marks a filter
// EV_EOF|EV_ONESHOT when what it watches goes away (kern_event.c; a pipe's
// reader closing for its writer, a terminal's last close), and every
// kernel does so when a file is revoked. The pipe guard's end of file is
// the pipe's reader closing, reported once as the guard is edge-triggered.
func keventEvents(e *unix.Kevent_t) (m Events, hungUp bool) {
	switch {
	case e.Flags&unix.EV_ERROR != 0:
		return allEvents, false
	case e.Flags&unix.EV_ONESHOT != 0:
		return allEvents, true
	}
	eof := e.Flags&unix.EV_EOF != 0
	switch e.Filter {
	case unix.EVFILT_READ:
		if e.Flags&unix.EV_CLEAR != 0 {
			// The pipe guard: its other events are no event of the
			// registration's.
			if eof {
				return allEvents, true
			}
			return 0, false
		}
		if eof && e.Fflags != 0 {
			return allEvents, false
		}
		return EVENT_READ, false
	case unix.EVFILT_WRITE:
		if eof && e.Fflags != 0 {
			return allEvents, false
		}
		return EVENT_WRITE, false
	}
	return exceptEvents(e), false
}

func (kq *kqueue) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	woken := false
	// A descriptor ready both to read and to write comes back as two
	// kevents, in no particular order: appendReady makes them one Ready.
	keys.beginPass()
	for i := range kq.events[:n] {
		e := &kq.events[i]
		if kq.isWake(e) {
			woken = true
			continue
		}
		fd := int(e.Ident)
		m, hungUp := keventEvents(e)
		// A kevent without a key is for a descriptor unregistered since
		// the wait began (another goroutine may): appendReady skips it.
		var registered bool
		dst, registered = keys.appendReady(dst, fd, m)
		if registered {
			if hungUp {
				kq.rememberHangUp(fd)
			}
			kq.rearm.note(e, keys)
		}
	}
	for fd := range kq.hungUp {
		dst, _ = keys.appendReady(dst, fd, allEvents)
	}
	return dst, woken
}

// rememberHangUp makes ready report fd's hang-up at every Select from now
// on, until Unregister or Modify.
func (kq *kqueue) rememberHangUp(fd int) {
	if kq.hungUp == nil {
		kq.hungUp = make(map[int]struct{})
	}
	kq.hungUp[fd] = struct{}{}
	kq.nHungUp.Store(int32(len(kq.hungUp)))
}

// forgetHangUp ends what rememberHangUp started for fd.
func (kq *kqueue) forgetHangUp(fd int) {
	if len(kq.hungUp) == 0 {
		return
	}
	delete(kq.hungUp, fd)
	kq.nHungUp.Store(int32(len(kq.hungUp)))
}

func (kq *kqueue) owns(fd int) bool { return fd == kq.fd }

func (kq *kqueue) close() error { return closeFD("kqueue", kq.fd) }
