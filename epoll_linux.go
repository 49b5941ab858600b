package selectors

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	backends[byEpoll] = backend{"epoll", func() (Selector, error) { return asSelector(NewEpollSelector()) }}
}

// EpollSelector is a Selector over Linux's epoll, level-triggered. Its
// cost per Select follows the number of ready descriptors, not the number
// registered. It refuses regular files, directories and /dev/null with the
// kernel's EPERM, as epoll does (poll and select take them). EVENT_URGENT
// is EPOLLPRI.
type EpollSelector struct {
	selector
}

// NewEpollSelector returns an EpollSelector, or the kernel's error wrapped
// (EMFILE when the process is out of descriptors).
func NewEpollSelector() (*EpollSelector, error) {
	w, err := newWaker()
	if err != nil {
		return nil, err
	}
	ep, err := newEpoll(w)
	if err != nil {
		w.close()
		return nil, err
	}
	s := &EpollSelector{}
	s.init("epoll", ep, w, pollLikeEvents, time.Millisecond)
	ep.keys = &s.keys
	return s, nil
}

// Fileno returns the epoll descriptor, or -1 once the selector is closed.
// Like Python's fileno, it is for the caller to watch, never to close.
//
// The number stays the same for the selector's life, but not always the
// epoll instance behind it: after a descriptor was closed while registered
// and its file lived on (dup, fork), the selector swaps a new instance in
// under the number to rid itself of the item it can no longer remove. A
// watcher of the old instance, such as another selector, then sees nothing
// more and must register the number again. Unregistering before closing
// never leads there.
func (s *EpollSelector) Fileno() int {
	if !s.core().isOpen() {
		return -1
	}
	return s.p.(*epoll).epfd
}

// epoll is the poller of EpollSelector. What every Select reads comes
// first, within its first 64 bytes on 64-bit platforms.
type epoll struct {
	epfd    int
	events  []unix.EpollEvent // filled by wait, read by ready
	keys    *keyTable         // the selector's, for purge: read with its mutex held, as add and ready are called
	wfd     int32             // the waker's descriptor
	touched Events            // what ready's first pass loaded, stored so that the compiler keeps the loads
	busy    bool              // the last wait reported more than one descriptor

	// A descriptor closed while registered whose open file lives on
	// (dup, fork, SCM_RIGHTS) keeps its item in the kernel's set: stale,
	// since Unregister cannot remove it (EPOLL_CTL_DEL of a closed number
	// fails). Each item carries its registration's tag (see keyTable.newTag)
	// in its event data, so ready ignores a stale item's events, even
	// under the number of a file registered since, and a purge then swaps
	// in a new set without it, so that Select does not spin on it.
	suspect      bool    // a removal failed since the last purge: a stale item may exist
	foreignWaits int32   // waits in a row that reported an event of no live registration
	w            fdWaker // wakes a wait in fallback after a change
	// fallback is the pollfd records of the waker and the keys while a
	// stale item reports and cannot be purged for want of a descriptor:
	// waits then poll these, as epoll_wait would return at once.
	fallback   []unix.PollFd
	retryPurge time.Duration // the clock after which a purge in fallback is tried again
}

// purgeRetry is how often Select tries again to purge while it cannot:
// the waits in fallback end that often, at most.
const purgeRetry = 250 * time.Millisecond

// firstEvents is how many events the first wait can take; reserve makes room
// for more as descriptors are registered.
const firstEvents = 128

func newEpoll(w fdWaker) (*epoll, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("selectors: epoll_create1: %w", err)
	}
	ep := &epoll{epfd: epfd, wfd: int32(w.readFD()), w: w, events: make([]unix.EpollEvent, firstEvents)}
	if err := ctl(epfd, unix.EPOLL_CTL_ADD, "add", w.readFD(), unix.EPOLLIN, 0); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	return ep, nil
}

// ctl makes one epoll_ctl call on epfd, with fd and tag as the event's data.
func ctl(epfd, op int, name string, fd int, events, tag uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(tag)}
	if err := unix.EpollCtl(epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("selectors: epoll_ctl %s fd %d: %w", name, fd, err)
	}
	return nil
}

func (ep *epoll) add(fd int, events Events, tag uint32) error {
	err := ctl(ep.epfd, unix.EPOLL_CTL_ADD, "add", fd, toPoll(events), tag)
	if errors.Is(err, unix.EEXIST) {
		// fd is not registered, so its item is a stale one of the same
		// file, closed and put back under its old number (dup2): make it
		// this registration's.
		err = ctl(ep.epfd, unix.EPOLL_CTL_MOD, "add", fd, toPoll(events), tag)
		// Refused, the stale item stays, with the old tag: let ready check
		// the tags.
		ep.suspect = ep.suspect || err != nil
	}
	if errors.Is(err, unix.EPERM) {
		err = fmt.Errorf("%w (epoll cannot watch regular files, directories or /dev/null, which are always ready; poll and select can)", err)
	}
	ep.changed()
	return err
}

func (ep *epoll) modify(fd int, _, events Events, tag uint32) error {
	ep.changed()
	return ctl(ep.epfd, unix.EPOLL_CTL_MOD, "mod", fd, toPoll(events), tag)
}

func (ep *epoll) remove(fd int, _ Events) error {
	ep.changed()
	switch err := unix.EpollCtl(ep.epfd, unix.EPOLL_CTL_DEL, fd, &unix.EpollEvent{}); err {
	case nil:
		return nil
	case unix.EBADF, unix.ENOENT, unix.EPERM:
		// The descriptor was closed (EBADF), or its number now names
		// another file, one never added (ENOENT) or one epoll refuses, a
		// regular file or a directory (EPERM). Its item left the set with
		// its file, unless the file lives on: then it is stale.
		ep.suspect = true
		return nil
	default:
		// The key goes all the same, and its item may stay behind: let
		// ready check the tags, so that its events are never reported.
		ep.suspect = true
		return fmt.Errorf("selectors: epoll_ctl del fd %d: %w", fd, err)
	}
}

// changed wakes a wait in fallback, whose pollfd records no longer match
// the keys; ready rebuilds them.
func (ep *epoll) changed() {
	if ep.fallback != nil {
		// As in selector.changed, an error would only leave the wait on
		// the old records, as a lost wakeup does.
		_ = ep.w.wake()
	}
}

// reserve sizes the buffer as Python sizes its epoll.poll: room for every
// registered descriptor and the waker.
func (ep *epoll) reserve(registered int) {
	if need := registered + 1; len(ep.events) < need {
		ep.events = make([]unix.EpollEvent, max(need, 2*len(ep.events)))
	}
}

func (ep *epoll) wait(timeout time.Duration) (int, error) {
	if ep.fallback != nil {
		return ep.waitFallback(timeout)
	}
	// The system calls are made here, not through unix.EpollWait or a
	// helper: one frame fewer to return through after each, and the
	// returns right after a system call are where a busy loop spends much
	// of its user time.
	//
	// When the last wait found several descriptors ready, look first
	// without blocking, through a raw system call that skips the Go
	// scheduler's bookkeeping for a call that may block (and the hand-off
	// of the thread's P that a long one brings): a busy loop finds events
	// there most of the time. The runtime's netpoller looks the same way
	// before it blocks. A loop that serves one descriptor at a time would
	// only pay for a second call, so it goes straight to the wait.
	if ep.busy || timeout == 0 {
		r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep.epfd),
			uintptr(unsafe.Pointer(&ep.events[0])), uintptr(len(ep.events)), 0, 0, 0)
		if errno == 0 && (r > 0 || timeout == 0) {
			ep.busy = r > 1
			return int(r), nil
		}
	}
	r, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep.epfd),
		uintptr(unsafe.Pointer(&ep.events[0])), uintptr(len(ep.events)), uintptr(millis(timeout)), 0, 0)
	switch errno {
	case 0:
		ep.busy = r > 1
		return int(r), nil
	case unix.EINTR:
		ep.busy = false
		return 0, nil
	}
	return 0, fmt.Errorf("selectors: epoll_wait: %w", errno)
}

// waitFallback waits on the fallback's records with poll(2), for purgeRetry
// at most, and then collects the epoll set's events without blocking.
func (ep *epoll) waitFallback(timeout time.Duration) (int, error) {
	if timeout < 0 || timeout > purgeRetry {
		timeout = purgeRetry
	}
	end := clock() + timeout
	for {
		n, err := unix.Poll(ep.fallback, millis(timeout))
		if err == unix.EINTR || n == 0 {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("selectors: poll: %w", err)
		}
		// A descriptor closed while registered ends every poll at once
		// (POLLNVAL), and epoll, which dropped it, reports nothing: leave
		// its record out until the records are made again, and wait on.
		if !skipInvalid(ep.fallback, n) {
			break
		}
		if timeout = end - clock(); timeout <= 0 {
			return 0, nil
		}
	}
	n, err := unix.EpollWait(ep.epfd, ep.events, 0)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selectors: epoll_wait: %w", err)
	}
	return n, nil
}

// skipInvalid gives the records that poll found invalid (POLLNVAL) the
// descriptor -1, which poll skips, and reports whether they were all of
// the n records that it reported.
func skipInvalid(records []unix.PollFd, n int) bool {
	invalid := 0
	for i := range records {
		if records[i].Revents&unix.POLLNVAL != 0 {
			records[i].Fd = -1
			invalid++
		}
	}
	return invalid == n
}

func (ep *epoll) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	// In fallback a stale item is suspected too: the purge failed.
	if ep.suspect {
		return ep.readySuspect(dst, keys, n)
	}
	woken := false
	// With several events, a first pass only loads each one's key. A busy
	// loop's caches have lost most keys since its last wait (its own
	// system calls evict them); in a pass that does nothing else the loads
	// are independent and the CPU overlaps their misses, where the pass
	// below, a call per event, meets them one at a time.
	if n > 1 {
		ep.touch(keys, n)
	}
	// epoll reports an item once per wait, and without a stale item no
	// two items share a number, so each event is a Ready of its own,
	// appended without appendReady's check for an earlier one to merge
	// into, as Python's EpollSelector appends them.
	for i := range ep.events[:n] {
		e := &ep.events[i]
		if e.Fd == ep.wfd {
			woken = true
			continue
		}
		// A descriptor unregistered since the wait has no key.
		if k := keys.get(int(e.Fd)); k != nil {
			if m := fromPoll(e.Events) & k.Events; m != 0 {
				dst = appendKey(dst, k, m)
			}
		}
	}
	return dst, woken
}

// readySuspect is ready while a stale item may exist: an event whose tag
// is not its number's registration's is the stale item's, ignored, and
// counted towards a purge.
func (ep *epoll) readySuspect(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	woken, foreign := false, false
	for i := range ep.events[:n] {
		e := &ep.events[i]
		if e.Fd == ep.wfd {
			woken = true
			continue
		}
		k, tag := keys.getTagged(int(e.Fd))
		if k == nil || tag != uint32(e.Pad) {
			foreign = true
			continue
		}
		if m := fromPoll(e.Events) & k.Events; m != 0 {
			dst = appendKey(dst, k, m)
		}
	}
	ep.sawForeign(foreign)
	return dst, woken
}

// touch loads the key of each of the first n events (see ready).
func (ep *epoll) touch(keys *keyTable, n int) {
	var all Events
	for i := range ep.events[:n] {
		if k := keys.get(int(ep.events[i].Fd)); k != nil {
			all |= k.Events
		}
	}
	ep.touched = all
}

// sawForeign counts the waits in a row that reported an event of no live
// registration (foreign) while a stale item may exist, and purges at the
// second, or in fallback every purgeRetry.
//
// A registration removed during a wait can report in that wait, but not in
// the next: its item is gone from the kernel by then. Only a stale item
// reports in two waits in a row.
func (ep *epoll) sawForeign(foreign bool) {
	switch {
	case ep.fallback != nil:
		if clock() < ep.retryPurge {
			ep.fallback = appendPollFDs(ep.fallback[:0], int(ep.wfd), ep.keys) // the keys may have changed
			return
		}
	case !foreign:
		ep.foreignWaits = 0
		return
	default:
		if ep.foreignWaits++; ep.foreignWaits < 2 {
			return
		}
	}
	if err := ep.purge(); err != nil {
		// Most likely out of descriptors (EMFILE): wait on the records
		// until a purge can be made, not on a set that reports at once.
		ep.fallback = appendPollFDs(ep.fallback[:0], int(ep.wfd), ep.keys)
		ep.retryPurge = clock() + purgeRetry
		return
	}
	ep.fallback = nil
}

// purge replaces the kernel's epoll set with a new one holding only the
// waker and the keys, under the same descriptor number. A failure leaves
// the old set in place, and is returned.
func (ep *epoll) purge() error {
	ep.foreignWaits = 0
	fresh, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("selectors: epoll purge: epoll_create1: %w", err)
	}
	defer unix.Close(fresh)
	if err := ctl(fresh, unix.EPOLL_CTL_ADD, "add", int(ep.wfd), unix.EPOLLIN, 0); err != nil {
		return fmt.Errorf("selectors: epoll purge: %w", err)
	}
	for i := range ep.keys.len() {
		k := ep.keys.at(i)
		// A key whose descriptor is closed (EBADF) or is now a regular
		// file (EPERM) had no live item in the old set either. Any other
		// refusal (ENOSPC past max_user_watches, ENOMEM) would lose a live
		// registration: keep the old set instead.
		err := ctl(fresh, unix.EPOLL_CTL_ADD, "add", k.FD, toPoll(k.Events), ep.keys.tag(k.FD))
		if err != nil && !errors.Is(err, unix.EBADF) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("selectors: epoll purge: %w", err)
		}
	}
	// Dup3 swaps the new set in under the old number atomically: the old
	// set, and its stale items, go when its file is released.
	if err := unix.Dup3(fresh, ep.epfd, unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("selectors: epoll purge: dup3: %w", err)
	}
	ep.suspect = false
	return nil
}

func (ep *epoll) owns(fd int) bool { return fd == ep.epfd }

func (ep *epoll) close() error { return closeFD("epoll", ep.epfd) }
