// Package selectors is Python's selectors module for Go: high-level,
// efficient I/O multiplexing over the operating system's select, poll,
// epoll, kqueue and /dev/poll, and on Windows the Winsock driver's own
// readiness polling (AFD).
//
// A [Selector] watches file objects (descriptors, *os.File, net
// connections and listeners, anything with a descriptor) for readiness to
// read or write, and tells which are ready:
//
//	sel, err := selectors.DefaultSelector()
//	if err != nil { ... }
//	defer sel.Close()
//	sel.Register(conn, selectors.EVENT_READ, handler)
//	for {
//		ready, err := sel.Select(-1)
//		if err != nil { ... }
//		for _, r := range ready {
//			r.Key.Data.(func(selectors.Ready))(r)
//		}
//	}
//
// # Readiness, not completion
//
// Select reports that a read or write will probably not block, nothing
// more. Events can be spurious: a descriptor reported readable may still
// have nothing to read, so every read or write in a selector loop must be
// one that does not wait, and must be ready to find nothing and wait for
// the next report. Readiness is level-triggered, as in Python: a
// descriptor stays ready, and is reported by every Select, until its data
// is read or its buffer drained. Errors and hang-ups are reported as every
// event registered, so that the next read or write meets the error.
//
// Go's own Read and Write methods (of *net.TCPConn, *os.File, ...) park
// the goroutine until they are done, which stalls the whole loop: read,
// write and accept with this package's [Read], [Write] and [Accept]
// instead, which make one system call and return an error wrapping
// [ErrWouldBlock] when it would wait.
//
// # Backends
//
// [DefaultSelector] takes the best backend that works here: kqueue on
// macOS and the BSDs, /dev/poll on Solaris and illumos, epoll on Linux,
// AFD on Windows, else poll, else select. Each has a constructor of its
// own (NewEpollSelector, ...), and [New] takes a backend's name, for a
// flag or a configuration file. Examples of whole programs are in the
// module's examples directory.
//
// # Exceptional conditions
//
// EVENT_URGENT watches for a file's exceptional condition, where the
// backend's kernel can report one:
//
//	backend   EVENT_URGENT is
//	epoll     EPOLLPRI
//	poll      POLLPRI; refused on darwin, whose poll never reports it
//	devpoll   POLLPRI
//	select    the exceptional set (exceptfds)
//	kqueue    EVFILT_EXCEPT/NOTE_OOB on darwin, openbsd, dragonfly (sockets
//	          only; see KqueueSelector); refused on freebsd, netbsd
//	afd       AFD_POLL_RECEIVE_EXPEDITED
//
// That is urgent (out-of-band) TCP data, a pseudo-terminal's status change
// in packet mode, or a device's or a sysfs file's POLLPRI (a GPIO edge).
// Register refuses it with ErrInvalidEvents where the kernel has no such
// condition.
//
// # Closing
//
// Unregister a file object before closing it. A descriptor closed while
// registered is dropped silently by epoll, kqueue and afd, reported as an
// error (every event registered) by poll and /dev/poll, and makes select
// fail with EBADF (WSAENOTSOCK on Windows) until it is unregistered.
// Unregister still works after the close. If its open file lives on
// through another descriptor (dup, fork), epoll keeps it in the kernel's
// set under the old number: the epoll selector ignores its events, and
// swaps in a new kernel set under the same number, without it, as soon as
// it reports.
//
// # Concurrency
//
// Every method is safe for concurrent use by multiple goroutines. Calls to
// Select and SelectInto are serialized. Register, Modify and Unregister
// called while another goroutine is blocked in Select take effect for that
// call on every backend. Wakeup makes a blocked Select return; Close makes
// it return ErrClosed. The package starts no goroutines.
//
// A Selector is made by its constructor: a zero or nil one behaves as a
// closed one, every method returning an error wrapping ErrClosed.
package selectors

//go:generate go run gen_methods.go

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Events is a set of I/O events: EVENT_READ, EVENT_WRITE, EVENT_URGENT.
type Events uint32

// The events a file object can be watched for. The names keep Python's
// spelling on purpose, as unix.EPOLLIN keeps C's.
const (
	EVENT_READ   Events = 1 << 0 // ready to read, or at end of stream, or in error
	EVENT_WRITE  Events = 1 << 1 // ready to write, or in error
	EVENT_URGENT Events = 1 << 2 // an exceptional condition: urgent data, a device's POLLPRI
)

// allEvents is every event a file object can be registered for.
const allEvents = EVENT_READ | EVENT_WRITE | EVENT_URGENT

// String returns the events' names joined by "|", with any unknown bits in
// hexadecimal: "EVENT_READ|EVENT_WRITE", "0", "EVENT_READ|0x8".
func (e Events) String() string {
	if e == 0 {
		return "0"
	}
	var parts []string
	for _, n := range [...]struct {
		e    Events
		name string
	}{{EVENT_READ, "EVENT_READ"}, {EVENT_WRITE, "EVENT_WRITE"}, {EVENT_URGENT, "EVENT_URGENT"}} {
		if e&n.e != 0 {
			parts = append(parts, n.name)
		}
	}
	if rest := e &^ allEvents; rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(parts, "|")
}

// The errors returned by selectors. Returned errors wrap one of these, so
// errors.Is tells them apart, and add which file object or descriptor and
// why. Their text is stable.
var (
	ErrAlreadyRegistered = errors.New("selectors: file object is already registered") // Python: KeyError
	ErrNotRegistered     = errors.New("selectors: file object is not registered")     // Python: KeyError
	ErrInvalidEvents     = errors.New("selectors: invalid events")                    // Python: ValueError
	ErrInvalidFileObj    = errors.New("selectors: invalid file object")               // Python: ValueError
	ErrClosed            = errors.New("selectors: selector is closed")                // Python: RuntimeError / ValueError
	// ErrWouldBlock: Read, Write, Accept, ReadFrom or WriteTo found nothing to do now.
	ErrWouldBlock = errors.New("selectors: operation would block") // Python: BlockingIOError
)

// Selector waits for I/O readiness on many file objects at once.
//
// A file object is an integer descriptor of any Go integer type, a
// syscall.Conn (*os.File, *net.TCPConn, *net.TCPListener, ...) whose
// descriptor is read without changing its blocking mode, or a value with
// a method Fd() uintptr. Anything else is refused with ErrInvalidFileObj,
// and so is a negative descriptor or, on Unix, one past a C int.
//
// Every method is safe for concurrent use; see the package documentation.
// The backends whose kernel object has a descriptor of its own (epoll,
// kqueue, /dev/poll) also have a method Fileno() int; reach it through the
// concrete type, e.g. sel.(*selectors.EpollSelector).Fileno().
type Selector interface {
	// Register starts watching fileobj for events (a non-empty set of
	// EVENT_READ, EVENT_WRITE and EVENT_URGENT) and returns its key, which
	// carries data. It returns ErrInvalidEvents (also for EVENT_URGENT
	// where the backend cannot report it), ErrInvalidFileObj,
	// ErrAlreadyRegistered (for the object or another one with the same
	// descriptor), ErrClosed, or the kernel's refusal (epoll refuses
	// regular files with EPERM), in which case nothing stays registered.
	Register(fileobj any, events Events, data any) (SelectorKey, error)

	// Unregister stops watching fileobj and returns its key, or
	// ErrNotRegistered. It succeeds on an object closed since it was
	// registered, found by identity (==) or by descriptor number.
	Unregister(fileobj any) (SelectorKey, error)

	// Modify changes the events and data of a registered file object and
	// returns the new key; keys handed out before are not changed. A change
	// of data alone makes no system call. Errors: ErrNotRegistered for an
	// object not registered, whatever the events (Python looks the object
	// up first); else ErrInvalidEvents, which leaves the registration as it
	// was. If the kernel refuses the change, the error is returned and the
	// object is no longer registered.
	Modify(fileobj any, events Events, data any) (SelectorKey, error)

	// Select waits until at least one registered file object is ready, the
	// timeout passes, Wakeup is called or the selector is closed, and
	// returns one Ready per ready file object. A negative timeout waits
	// without limit and zero polls. A positive one is rounded up to the
	// backend's resolution, as Python rounds it (a millisecond for epoll,
	// poll and /dev/poll, a microsecond for select, a nanosecond for
	// kqueue), so Select(1), one nanosecond, waits a whole millisecond on
	// epoll; Select never returns early for want of events. On timeout or
	// Wakeup the result may be empty, with a nil error. Interrupted system
	// calls are retried with the time that remains. A closed selector
	// returns ErrClosed. Now and then, at most every few milliseconds,
	// Select yields to the Go scheduler (runtime.Gosched) before it waits,
	// so that a loop calling it keeps its thread and lets other goroutines
	// run.
	Select(timeout time.Duration) ([]Ready, error)

	// SelectInto is Select appending to dst: with enough capacity in dst a
	// loop that reuses it allocates nothing.
	SelectInto(dst []Ready, timeout time.Duration) ([]Ready, error)

	// GetKey returns the key of a registered file object, or
	// ErrNotRegistered. An integer finds the key registered through any
	// object with that descriptor.
	GetKey(fileobj any) (SelectorKey, error)

	// GetMap returns a snapshot of the keys by descriptor: a new map the
	// caller owns, built in O(n). It is empty but not nil while the
	// selector is open, and nil once it is closed.
	GetMap() map[int]SelectorKey

	// Wakeup makes a blocked Select return now, with whatever is ready and
	// a nil error. If no Select is blocked, the next one returns at once;
	// several wakeups before a Select count as one.
	Wakeup() error

	// Close releases the selector's descriptors. A Select blocked in
	// another goroutine returns ErrClosed, and every later call returns
	// ErrClosed (GetMap returns nil). A second Close returns nil, once the
	// first has released the descriptors if it runs meanwhile.
	Close() error
}

// A backend provides a poller and a waker; the selector below does the
// rest (keys, validation, deadlines, waking and closing). A poller only
// turns registrations into kernel calls and kernel events into Ready.
//
// A poller's wait and ready run in the one goroutine in Select: wait
// without the selector's mutex, ready with it. close comes once, after the
// last wait has returned, and before the waker's close.
type poller interface {
	// wait blocks until the kernel reports events, the waker is woken, or
	// timeout passes (negative: no limit; zero: do not block; never more
	// than maxWait), rounding a positive timeout up to its resolution, and
	// returns how many kernel events it holds. An interrupted wait returns
	// 0 events and no error.
	wait(timeout time.Duration) (int, error)
	// ready appends to dst one Ready per registered descriptor among the n
	// kernel events of the last wait, masked by keys, skipping descriptors
	// without a key (unregistered during the wait), and reports whether
	// the waker's event was among them.
	ready(dst []Ready, keys *keyTable, n int) (out []Ready, woken bool)
	// close releases the poller's own descriptors.
	close() error
}

// kernelSet is a poller whose kernel keeps the registered set (epoll,
// kqueue, /dev/poll). Its add, modify and remove are called with the
// selector's mutex held, from any goroutine, and reach a wait already
// blocked through the kernel; reserve comes from Select, before a wait.
type kernelSet interface {
	poller
	// add starts watching fd, which is not registered, for events. tag is
	// this registration's own, for a poller that can keep it in the
	// kernel's event to tell a stale item from a live one.
	add(fd int, events Events, tag uint32) error
	// modify changes the events of a registered fd from old to events.
	modify(fd int, old, events Events, tag uint32) error
	// remove stops watching fd; a descriptor closed since it was added is
	// no error.
	remove(fd int, events Events) error
	// reserve makes room for the events of registered descriptors in the
	// next wait, so that one wait reports all that is ready.
	reserve(registered int)
	// owns reports whether fd is one of the poller's own descriptors.
	owns(fd int) bool
}

// rebuilder is a poller that hands the kernel its whole set at every wait
// (poll, select). The selector rebuilds the set from the keys, with its
// mutex held, before a wait that follows a change, and a change made while
// a wait is blocked wakes it to rebuild.
type rebuilder interface {
	poller
	// check refuses at Register a descriptor that the set cannot hold.
	check(fd int) error
	// rebuild makes the set that the next waits hand the kernel.
	rebuild(keys *keyTable)
}

// waker makes a blocked wait return: a descriptor or kernel event that the
// poller watches. Wakeups before a wait coalesce.
type waker interface {
	wake() error
	// drain makes the waker quiet again once a wait has reported it.
	drain()
	// owns reports whether fd is one of the waker's own descriptors.
	owns(fd int) bool
	close() error
}

// Select yields to the Go scheduler (runtime.Gosched) before a wait once
// yieldAfter has passed since it last did, which it checks every yieldCheck
// waits.
//
// The runtime's sysmon sets out to preempt a goroutine that has run 10 ms
// without passing through the scheduler, and as it cannot preempt one in a
// system call, it takes the P (the right to run Go code) from the thread
// instead: the P goes to another thread, which finds nothing to do and
// sleeps, and when the wait returns the thread must get a P back. An event
// loop that blocks many times a second and never yields would pay that
// hand-off at nearly every wait. A yield is not free either (with idle Ps
// it wakes a thread to look for work), so Select yields only as often as
// keeps sysmon off. It also lets the other goroutines of a GOMAXPROCS=1
// program run beside a Select loop that never blocks.
const yieldCheck = 32

// yieldAfter is a variable only so that a test can make every check yield.
var yieldAfter = 4 * time.Millisecond

// maxWait bounds one wait in the kernel; Select waits again for what
// remains. It keeps every backend's timeout argument in range (milliseconds
// in an int32, a 32-bit timeval, Darwin's kevent).
const maxWait = 24 * time.Hour

// selector is the portable core that every backend embeds.
type selector struct {
	selectorFields
	// Padding to a multiple of 64 bytes, the cache line of the CPUs Go
	// runs on: the allocator then puts a selector on a line's start, and
	// what every Select reads, first in selectorFields, takes two lines.
	_ [(64 - unsafe.Sizeof(selectorFields{})%64) % 64]byte
}

// selectorFields are a selector's fields. What every Select reads comes
// first.
type selectorFields struct {
	// selecting serializes Select, and Close waits on it so that the
	// poller's descriptors are closed only once no wait can use them.
	selecting sync.Mutex

	mu         sync.Mutex   // guards keys, stale, waiting and the poller's registrations
	p          poller       // the backend
	keys       keyTable     // guarded by mu
	open       atomic.Bool  // set by the constructor, cleared once by Close, under mu
	registered atomic.Int32 // keys.len(), for reserve outside mu
	reserved   int32        // the registered count of the last reserve (-1: none); Select's own
	waits      uint32       // waits, counted for yieldCheck; Select's own
	r          rebuilder    // p, if it rebuilds its set at each wait; else nil
	k          kernelSet    // p, if the kernel keeps its set; else nil

	w       waker
	stale   bool          // r's set no longer matches the keys
	woken   atomic.Bool   // Wakeup was called and no Select has returned for it
	waiting bool          // a rebuilder's Select is between rebuild and ready
	yielded time.Duration // the clock when Select last yielded to the scheduler; Select's own
	res     time.Duration // the backend's timeout resolution, to which Select rounds up
	events  Events        // what the backend can report
	name    string        // the backend's, for BackendName
	closing sync.Mutex    // held by Close throughout
}

// init opens s, the core of a backend named name, whose poller p reports
// events and is woken by w. Until then s is closed, as a zero selector is.
func (s *selector) init(name string, p poller, w waker, events Events, res time.Duration) {
	s.r, _ = p.(rebuilder)
	s.k, _ = p.(kernelSet)
	s.name, s.p, s.w, s.events, s.res, s.reserved, s.stale = name, p, w, events, res, -1, true
	s.open.Store(true)
}

// unmade is the selector of a nil backend type: closed, as a zero one is.
var unmade selector

// isOpen reports whether s was made by a constructor and is not closed.
func (s *selector) isOpen() bool { return s.open.Load() }

func (s *selector) backendName() string { return s.name }

// closedError is the error of op on a closed selector.
func (s *selector) closedError(op string) error {
	if s.p == nil {
		return fmt.Errorf("%w: %s: the selector was not made by its constructor", ErrClosed, op)
	}
	return fmt.Errorf("%w: %s", ErrClosed, op)
}

// checkEvents returns ErrInvalidEvents unless events is a non-empty set of
// the events that the backend can report.
func (s *selector) checkEvents(events Events) error {
	if events == 0 || events&^allEvents != 0 {
		return fmt.Errorf("%w: %v", ErrInvalidEvents, events)
	}
	if no := events &^ s.events; no != 0 {
		return fmt.Errorf("%w: %v: the %s backend cannot report %v", ErrInvalidEvents, events, s.name, no)
	}
	return nil
}

// changed records a change of the keys, and wakes a rebuilder's Select
// blocked on a set that no longer matches them.
func (s *selector) changed() {
	s.registered.Store(int32(s.keys.len()))
	if s.r == nil {
		return
	}
	s.stale = true
	if s.waiting {
		// The wake only makes the wait look at the keys again; an error
		// here would leave it on the old set, as with a lost wakeup, and
		// there is nothing the caller of Register could do about it.
		_ = s.w.wake()
	}
}

// owns reports whether fd is one of the selector's own descriptors.
func (s *selector) owns(fd int) bool {
	return s.w.owns(fd) || s.k != nil && s.k.owns(fd)
}

// Register is Selector.Register, for every backend.
func (s *selector) Register(fileobj any, events Events, data any) (SelectorKey, error) {
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("register")
	}
	if err := s.checkEvents(events); err != nil {
		return SelectorKey{}, err
	}
	fd, err := fileDescriptor(fileobj)
	if err != nil {
		return SelectorKey{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("register")
	}
	if k := s.keys.get(fd); k != nil {
		return SelectorKey{}, fmt.Errorf("%w: fd %d", ErrAlreadyRegistered, fd)
	}
	if s.owns(fd) {
		return SelectorKey{}, fmt.Errorf("%w: fd %d belongs to the selector itself", ErrInvalidFileObj, fd)
	}
	tag := s.keys.newTag()
	if s.k != nil {
		err = s.k.add(fd, events, tag)
	} else {
		err = s.r.check(fd)
	}
	if err != nil {
		return SelectorKey{}, err
	}
	key := SelectorKey{FileObj: fileobj, FD: fd, Events: events, Data: data}
	s.keys.put(key, tag)
	s.changed()
	return key, nil
}

// Unregister is Selector.Unregister, for every backend.
func (s *selector) Unregister(fileobj any) (SelectorKey, error) {
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("unregister")
	}
	fd, fdErr := fileDescriptor(fileobj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("unregister")
	}
	k, err := s.keys.find(fileobj, fd, fdErr)
	if err != nil {
		return SelectorKey{}, err
	}
	return s.drop(k.FD)
}

// drop removes the key of fd, which is registered, and its kernel
// registration.
func (s *selector) drop(fd int) (SelectorKey, error) {
	key, _ := s.keys.remove(fd)
	var err error
	if s.k != nil {
		err = s.k.remove(key.FD, key.Events)
	}
	s.changed()
	return key, err
}

// Modify is Selector.Modify, for every backend.
func (s *selector) Modify(fileobj any, events Events, data any) (SelectorKey, error) {
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("modify")
	}
	fd, fdErr := fileDescriptor(fileobj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("modify")
	}
	// The object first, then the events, as Python's modify looks them
	// up: an object not registered is ErrNotRegistered whatever the events.
	k, err := s.keys.find(fileobj, fd, fdErr)
	if err != nil {
		return SelectorKey{}, err
	}
	if err := s.checkEvents(events); err != nil {
		return SelectorKey{}, err
	}
	if events != k.Events {
		if s.k != nil {
			if err := s.k.modify(k.FD, k.Events, events, s.keys.tag(k.FD)); err != nil {
				// Python's behaviour: the object is dropped, so that the
				// keys and the kernel never disagree.
				_, _ = s.drop(k.FD)
				return SelectorKey{}, err
			}
		}
		defer s.changed()
	}
	k.Events, k.Data = events, data
	return *k, nil
}

// GetKey is Selector.GetKey, for every backend.
func (s *selector) GetKey(fileobj any) (SelectorKey, error) {
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("get key")
	}
	fd, fdErr := fileDescriptor(fileobj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isOpen() {
		return SelectorKey{}, s.closedError("get key")
	}
	k, err := s.keys.find(fileobj, fd, fdErr)
	if err != nil {
		return SelectorKey{}, err
	}
	return *k, nil
}

// GetMap is Selector.GetMap, for every backend.
func (s *selector) GetMap() map[int]SelectorKey {
	if !s.isOpen() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isOpen() {
		return nil
	}
	return s.keys.snapshot()
}

// SelectInto is Selector.SelectInto, for every backend.
func (s *selector) SelectInto(dst []Ready, timeout time.Duration) ([]Ready, error) {
	// The mutexes are released on every way out below, not deferred: a
	// deferred call costs on every Select, and nothing in between calls
	// the caller's code, so only a bug of this package could panic there.
	s.selecting.Lock()
	// Only a positive timeout has a deadline, a duration on the monotonic
	// clock (see clock): one word for the loop to keep across the wait,
	// where a time.Time takes three. The first wait is for the whole
	// timeout, rounded up to the backend's resolution; a wait after it,
	// for what remains, which the backend rounds up again.
	var until time.Duration
	wait := timeout
	if timeout > 0 {
		// Rounded before the deadline is taken, as Python rounds before
		// it waits: else a wait interrupted before the timeout itself
		// passed, one nanosecond, would end Select short of its
		// resolution.
		timeout = roundUp(timeout, s.res)
		until = deadline(timeout)
		wait = min(timeout, maxWait)
	}
	for {
		// What is rarely done is done in methods of its own, so that the
		// instructions run at every Select fill few cache lines: a loop
		// that waits has lost them by the time the wait returns.
		if s.r != nil || !s.open.Load() || s.registered.Load() != s.reserved {
			if err := s.beforeWait(); err != nil {
				s.selecting.Unlock()
				return dst, err
			}
		}
		if s.waits++; s.waits%yieldCheck == 0 {
			s.yield()
		}
		n, err := s.p.wait(wait)

		s.mu.Lock()
		s.waiting = false
		if err != nil || !s.open.Load() {
			if err = s.afterFailedWait(err); err != nil {
				s.selecting.Unlock()
				return dst, err
			}
			n = 0
		}
		if dst == nil {
			// Select's result: one allocation, sized to what the kernel
			// reported (an upper bound on the Ready to come), and none for
			// an empty result, which is still not nil.
			dst = make([]Ready, 0, n)
		}
		out, woken := s.p.ready(dst, &s.keys, n)
		s.mu.Unlock()
		// A wake of the waker is consumed whatever else is ready, so that
		// the Wakeup it was for does not also end a later Select.
		if woken && s.wokenUp() || len(out) > len(dst) || timeout == 0 ||
			timeout > 0 && clock() >= until {
			s.selecting.Unlock()
			return out, nil
		}
		// Nothing for the caller yet: an internal wake after a change of
		// registrations, an interrupted wait, or a kernel timer that fired
		// before our clock says the deadline passed. Wait for what remains.
		if timeout > 0 {
			wait = max(0, min(until-clock(), maxWait))
		}
	}
}

// beforeWait is what Select does before a wait besides yielding, when it
// has anything to do: fail once the selector is closed, rebuild a
// rebuilder's set, or make room for the events of what was registered
// since the last wait.
func (s *selector) beforeWait() error {
	if !s.open.Load() {
		return s.closedError("select")
	}
	if s.r != nil {
		s.mu.Lock()
		if s.stale {
			s.r.rebuild(&s.keys)
			s.stale = false
		}
		s.waiting = true
		s.mu.Unlock()
	} else if r := s.registered.Load(); r != s.reserved {
		s.k.reserve(int(r))
		s.reserved = r
	}
	return nil
}

// afterFailedWait returns Select's error when the wait failed (err) or the
// selector was closed during it: ErrClosed first. It returns nil, for
// Select to wait again, when a rebuilder's wait failed on a set that the
// keys had left behind: select(2) fails with EBADF, and Winsock's with
// WSAENOTSOCK, for a descriptor unregistered and closed while it waited,
// which the next set will not hold. On error it releases s.mu.
func (s *selector) afterFailedWait(err error) error {
	switch {
	case !s.open.Load():
		err = s.closedError("select")
	case s.r != nil && s.stale:
		return nil
	}
	s.mu.Unlock()
	return err
}

// wokenUp consumes a Wakeup, reporting whether there was one, and drains
// the waker, which the last wait reported.
func (s *selector) wokenUp() bool {
	s.w.drain()
	return s.woken.Swap(false)
}

// yield calls runtime.Gosched if yieldAfter has passed since it last did
// (see yieldCheck).
func (s *selector) yield() {
	if clock()-s.yielded >= yieldAfter {
		runtime.Gosched()
		s.yielded = clock()
	}
}

// epoch is the origin of clock.
var epoch = time.Now()

// clock is the time on the monotonic clock, as a duration since epoch.
func clock() time.Duration { return time.Since(epoch) }

// roundUp rounds a positive timeout up to a multiple of res, or leaves it
// if that would overflow (the deadline is then the largest Duration). A
// selector not made by its constructor has a zero res: nothing to round.
func roundUp(timeout, res time.Duration) time.Duration {
	if res <= 1 {
		return timeout
	}
	if r := timeout % res; r != 0 && timeout <= math.MaxInt64-res {
		return timeout + res - r
	}
	return timeout
}

// deadline is the clock when timeout, which is positive, will have passed;
// the largest Duration if that is past it.
func deadline(timeout time.Duration) time.Duration {
	now := clock()
	if timeout > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + timeout
}

// Wakeup is Selector.Wakeup, for every backend.
func (s *selector) Wakeup() error {
	if !s.isOpen() {
		return s.closedError("wakeup")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open.Load() {
		return s.closedError("wakeup")
	}
	s.woken.Store(true)
	return s.w.wake()
}

// Close is Selector.Close, for every backend.
func (s *selector) Close() error {
	if s.p == nil {
		return s.closedError("close")
	}
	// A Close while another is under way waits for it, so that whichever
	// returns, the descriptors are closed by then.
	s.closing.Lock()
	defer s.closing.Unlock()
	s.mu.Lock()
	if !s.open.Load() {
		s.mu.Unlock()
		return nil
	}
	s.open.Store(false)
	// A Select blocked in another goroutine sees the selector closed once
	// woken. Only a rebuilder's records that it waits, so wake whether or
	// not one does.
	wakeErr := s.w.wake()
	s.keys = keyTable{}
	s.registered.Store(0)
	s.mu.Unlock()

	// Wait for that Select to leave before closing the descriptors it
	// waits on: a number closed under it could be reused by the process.
	s.selecting.Lock()
	defer s.selecting.Unlock()
	return errors.Join(wakeErr, s.p.close(), s.w.close())
}
