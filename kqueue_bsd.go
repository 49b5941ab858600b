//go:build darwin || ios || dragonfly || freebsd || netbsd || openbsd

package selectors

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	backends[byKqueue] = backend{"kqueue", func() (Selector, error) { return asSelector(NewKqueueSelector()) }}
}

// KqueueSelector is a Selector over the kqueue of macOS and the BSDs,
// level-triggered, with an EVFILT_READ and an EVFILT_WRITE filter per
// descriptor as its events ask. Its cost per Select follows the number of
// ready descriptors, not the number registered. Unlike Python's
// KqueueSelector, it returns one Ready for a descriptor ready both to read
// and to write, not two. Registering for EVENT_WRITE is refused with the
// kernel's error where kqueue refuses the write filter, as on FreeBSD and
// macOS for a pipe whose reading end is closed (EPIPE).
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
	s.init("kqueue", &kqueue{fd: fd, wfd: wfd}, w, kqueueEvents)
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
}

// kqueueEvents is what the kqueue backend can report.
const kqueueEvents = EVENT_READ | EVENT_WRITE

// filter is the kqueue filter that watches a descriptor for one event.
type filter struct {
	event Events
	id    int    // EVFILT_READ or EVFILT_WRITE
	name  string // for errors
}

var filters = [...]filter{
	{EVENT_READ, unix.EVFILT_READ, "read"},
	{EVENT_WRITE, unix.EVFILT_WRITE, "write"},
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

func (kq *kqueue) change(op string, fd int, f filter, flags int) error {
	if err := keventChange(kq.fd, fd, f.id, flags, 0); err != nil {
		return fmt.Errorf("selectors: kevent %s %s fd %d: %w", op, f.name, fd, err)
	}
	return nil
}

func (kq *kqueue) add(fd int, events Events, _ uint32) error {
	for i, f := range filters {
		if events&f.event == 0 {
			continue
		}
		if err := kq.change("add", fd, f, unix.EV_ADD); err != nil {
			// Leave nothing behind: take back the filters added before.
			for _, g := range filters[:i] {
				if events&g.event != 0 {
					_ = kq.change("delete", fd, g, unix.EV_DELETE)
				}
			}
			return err
		}
	}
	return nil
}

// modify deletes the filters no longer wanted, one call each as remove
// does, then adds every wanted one in one call, those it keeps before the
// new one. Adding a filter that is there only updates it, and it restores
// one that went with a descriptor closed while registered, whose number a
// new file took: Modify then watches the new file for all its events, as
// poll does and as Python's modify, an unregister and a register, does.
// The deletes are apart because a filter gone that way fails its delete
// (ENOENT), and kevent stops at the first change that fails when it has no
// event list, leaving the adds after it undone.
//
// A failed add has added no filter beyond the old events (kevent stops
// there), and the selector's remove of those, which ignores filters
// already gone, leaves nothing behind.
func (kq *kqueue) modify(fd int, old, events Events, _ uint32) error {
	if err := kq.remove(fd, old&^events); err != nil {
		return err
	}
	var changes [len(filters)]unix.Kevent_t // each filter once at most
	n := 0
	for _, which := range [...]Events{old & events, events &^ old} {
		for _, f := range filters {
			if which&f.event != 0 {
				unix.SetKevent(&changes[n], fd, f.id, unix.EV_ADD)
				n++
			}
		}
	}
	_, err := unix.Kevent(kq.fd, changes[:n], nil, nil)
	// EINTR: see keventChange.
	if err != nil && err != unix.EINTR {
		return fmt.Errorf("selectors: kevent modify fd %d from %v to %v: %w", fd, old, events, err)
	}
	return nil
}

func (kq *kqueue) remove(fd int, events Events) error {
	var errs error
	for _, f := range filters {
		if events&f.event == 0 {
			continue
		}
		err := kq.change("delete", fd, f, unix.EV_DELETE)
		// A closed descriptor took its filters with it (EBADF), or its
		// number now names another file that was never added (ENOENT).
		if err != nil && !errors.Is(err, unix.EBADF) && !errors.Is(err, unix.ENOENT) {
			errs = errors.Join(errs, err)
		}
	}
	return errs
}

// reserve makes room for two filters per registered descriptor and the
// waker, so that one wait reports all that is ready.
func (kq *kqueue) reserve(registered int) {
	if need := 2*registered + 1; len(kq.events) < need {
		kq.events = make([]unix.Kevent_t, max(need, 2*len(kq.events)))
	}
}

// wait takes the timeout at full resolution. The selector's maxWait (24h)
// keeps it below what Darwin refuses with EINVAL; Go's runtime caps its
// own kevent timeouts at 1e6 seconds for that reason.
func (kq *kqueue) wait(timeout time.Duration) (int, error) {
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

// keventEvents is what one kevent says of its descriptor. An error makes
// it both readable and writable, as POLLERR does for poll, so that the
// caller's next read or write meets it: EV_ERROR, or EV_EOF with the
// socket's error in Fflags. An end of file alone is its own filter's
// event: a read filter's (the peer shut its side down) says a read returns
// 0 at once, and the socket may still take writes, or may not yet, as
// poll's POLLIN and epoll's EPOLLIN say; reporting it writable too made a
// loop that waits to write spin while the filter stayed ready.
func keventEvents(e *unix.Kevent_t) Events {
	if e.Flags&unix.EV_ERROR != 0 || e.Flags&unix.EV_EOF != 0 && e.Fflags != 0 {
		return EVENT_READ | EVENT_WRITE
	}
	switch e.Filter {
	case unix.EVFILT_READ:
		return EVENT_READ
	case unix.EVFILT_WRITE:
		return EVENT_WRITE
	}
	return 0
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
		// A kevent without a key is for a descriptor unregistered since
		// the wait began (another goroutine may): appendReady skips it.
		dst, _ = keys.appendReady(dst, int(e.Ident), keventEvents(e))
	}
	return dst, woken
}

func (kq *kqueue) owns(fd int) bool { return fd == kq.fd }

func (kq *kqueue) close() error { return closeFD("kqueue", kq.fd) }
