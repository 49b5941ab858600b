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
// registered. It refuses regular files and directories with the kernel's
// EPERM, as epoll does.
type EpollSelector struct {
	selector
}

// NewEpollSelector returns an EpollSelector, or the kernel's error wrapped
// (EMFILE when the process is out of descriptors).
func NewEpollSelector() (*EpollSelector, error) {
	ep, err := newEpoll()
	if err != nil {
		return nil, err
	}
	s := &EpollSelector{selector: newSelector("epoll", ep)}
	ep.keys = &s.keys
	return s, nil
}

// Fileno returns the epoll descriptor, or -1 once the selector is closed.
// Like Python's fileno, it is for the caller to watch, never to close.
//
// The number stays the same for the selector's life, but not always the
// epoll instance behind it: after a descriptor was closed while registered
// and its file lived on (dup, fork), the selector swaps a new instance in
// under the number to rid itself of the item it can no longer remove (see
// the README's differences from Python). A watcher of the old instance,
// such as another selector, then sees nothing more and must register the
// number again. Unregistering before closing never leads there.
func (s *EpollSelector) Fileno() int {
	if s.closed.Load() {
		return -1
	}
	return s.p.(*epoll).epfd
}

// epoll is the poller of EpollSelector. Its fields fit in 64 bytes on
// 64-bit platforms, one cache line for what every Select reads.
type epoll struct {
	epfd   int
	waker  waker
	events []unix.EpollEvent // filled by wait, read by ready

	busy         bool      // the last wait reported more than one descriptor
	suspect      bool      // a descriptor was closed while registered: stale items may report
	keylessWaits int32     // waits in a row that reported a descriptor with no key
	keys         *keyTable // the selector's, for purge: read with its mutex held, as add and ready are called
	touched      Events    // what ready's first pass loaded, stored so that the compiler keeps the loads
}

// firstEvents is how many events the first wait can take; reserve makes room
// for more as descriptors are registered.
const firstEvents = 128

func newEpoll() (*epoll, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("selectors: epoll_create1: %w", err)
	}
	w, err := newWaker()
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ep := &epoll{epfd: epfd, waker: w, events: make([]unix.EpollEvent, firstEvents)}
	if err := ep.ctl(unix.EPOLL_CTL_ADD, "add", w.readFD(), unix.EPOLLIN); err != nil {
		w.close()
		unix.Close(epfd)
		return nil, err
	}
	return ep, nil
}

func toEpoll(events Events) uint32 {
	var e uint32
	if events&EVENT_READ != 0 {
		e |= unix.EPOLLIN
	}
	if events&EVENT_WRITE != 0 {
		e |= unix.EPOLLOUT
	}
	return e
}

func (ep *epoll) ctl(op int, name string, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(ep.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("selectors: epoll_ctl %s fd %d: %w", name, fd, err)
	}
	return nil
}

func (ep *epoll) add(fd int, events Events) error {
	// A stale item under fd's number would report beside the new one, or
	// alone when the new file is not ready, as if it were the new file's:
	// purge it first, or refuse the registration.
	if ep.suspect {
		if err := ep.purge(); err != nil {
			return err
		}
		// A Select blocked meanwhile waits on the old set, which sees
		// neither fd nor any change made from now on: wake it, and it
		// waits again on the new one (the waker is in both). A wake that
		// no Select meets costs the next one an empty wait. An error
		// here would leave that Select on the old set, as a lost wakeup
		// does (see selector.changed): the registration itself is sound.
		_ = ep.waker.wake()
	}
	return ep.ctl(unix.EPOLL_CTL_ADD, "add", fd, toEpoll(events))
}

func (ep *epoll) modify(fd int, _, events Events) error {
	return ep.ctl(unix.EPOLL_CTL_MOD, "mod", fd, toEpoll(events))
}

func (ep *epoll) remove(fd int, _ Events) error {
	err := ep.ctl(unix.EPOLL_CTL_DEL, "del", fd, 0)
	// The descriptor was closed (EBADF), or its number now names another
	// file, one never added (ENOENT) or one epoll refuses, a regular file
	// or a directory (EPERM). Its item left the set with its file, unless
	// the file lives on: then it is stale (see purge).
	if errors.Is(err, unix.EBADF) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		ep.suspect = true
		return nil
	}
	return err
}

// reserve sizes the buffer as Python sizes its epoll.poll: room for every
// registered descriptor and the waker.
func (ep *epoll) reserve(registered int) {
	if need := registered + 1; len(ep.events) < need {
		ep.events = make([]unix.EpollEvent, max(need, 2*len(ep.events)))
	}
}

func (ep *epoll) wait(timeout time.Duration) (int, error) {
	// The system calls are made here, not through unix.EpollWait or a
	// helper: one frame fewer to return through after each, and the
	// returns right after a system call are where a profile of a busy
	// loop finds much of its user time.
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

func (ep *epoll) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	woken, keyless := false, false
	wfd := int32(ep.waker.readFD())
	// With several events, a first pass only loads each one's key. A busy
	// loop's caches have lost most keys since its last wait (its own
	// system calls evict them), and a miss on the key is where a profile
	// at 200 connections found the time of appendReady. In a pass that
	// does nothing else the loads are independent and the CPU overlaps
	// their misses, where the pass below, a call per event, meets them one
	// at a time. Side by side with the commit before it at 200
	// connections, it cut the example server's user time per round trip
	// to 0.94 (0.90–0.97). Where every key is in the cache already, as in
	// the micro benchmarks, it only adds a loop: 1–3% with all ready.
	if n > 1 {
		ep.touch(keys, n)
	}
	// epoll reports a descriptor once per wait (add keeps a number from
	// holding two items), so each event is a Ready of its own, appended
	// without appendReady's check for an earlier one to merge into, as
	// Python's EpollSelector appends them.
	for i := range ep.events[:n] {
		e := &ep.events[i]
		if e.Fd == wfd {
			ep.waker.drain()
			woken = true
			continue
		}
		k := keys.get(int(e.Fd))
		if k == nil {
			keyless = true
			continue
		}
		if m := pollMask(e.Events, unix.EPOLLIN, unix.EPOLLOUT) & k.Events; m != 0 {
			dst = appendKey(dst, k, m)
		}
	}
	if ep.suspect {
		ep.sawKeyless(keyless)
	}
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

// sawKeyless counts the waits in a row that reported a descriptor with no
// key (keyless), while a stale item may exist, and purges at the second.
//
// Stale items (see purge) exist only once a descriptor was closed while
// registered. Then a number without a key in two waits in a row betrays
// one: a key unregistered during a wait is gone from the kernel by the
// next. Without suspicion a keyless event is only such an unregistration,
// and never worth a purge.
func (ep *epoll) sawKeyless(keyless bool) {
	if keyless {
		ep.keylessWaits++
	} else {
		ep.keylessWaits = 0
	}
	if ep.keylessWaits > 1 {
		// A failure leaves the old set, to be purged at the next sign.
		_ = ep.purge()
	}
}

// purge replaces the kernel's epoll set with a new one holding only the
// waker and the keys, under the same descriptor number.
//
// It rids the set of stale items. A descriptor closed while registered,
// whose open file lives on through another descriptor (dup, fork,
// SCM_RIGHTS), keeps its item, since the kernel drops items only when the
// file is released: Unregister cannot remove it (EPOLL_CTL_DEL of a closed
// number fails with EBADF), and it goes on reporting under the old number,
// with no key (every wait returns at once: Select would spin), or under
// the number of a file registered since, where it reports beside that
// file's item or, when that file is not ready, alone and as if it were
// that file. Only a new set is rid of it. ready purges when keyless events
// betray one, and add before it registers a number while one may exist, so
// that no number ever holds two items.
//
// A failure leaves the old set in place, and is returned.
func (ep *epoll) purge() error {
	ep.keylessWaits = 0
	fresh, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("selectors: epoll purge: epoll_create1: %w", err)
	}
	defer unix.Close(fresh)
	add := func(fd int, events uint32) error {
		ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
		return unix.EpollCtl(fresh, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err := add(ep.waker.readFD(), unix.EPOLLIN); err != nil {
		return fmt.Errorf("selectors: epoll purge: epoll_ctl add waker: %w", err)
	}
	for i := range ep.keys.len() {
		k := ep.keys.at(i)
		// A key whose descriptor is closed (EBADF) or is now a regular
		// file (EPERM) had no live item in the old set either.
		_ = add(k.FD, toEpoll(k.Events))
	}
	// Dup3 swaps the new set in under the old number atomically: the old
	// set, and its stale items, go when its file is released.
	if err := unix.Dup3(fresh, ep.epfd, unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("selectors: epoll purge: dup3: %w", err)
	}
	ep.suspect = false
	return nil
}

func (ep *epoll) wake() error { return ep.waker.wake() }

func (ep *epoll) owns(fd int) bool { return fd == ep.epfd || ep.waker.owns(fd) }

func (ep *epoll) close() error {
	return errors.Join(ep.waker.close(), closeFD("epoll", ep.epfd))
}
