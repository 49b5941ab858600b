// Package selectors is Python's selectors module for Go: high-level,
// efficient I/O multiplexing over the operating system's select, poll,
// epoll, kqueue and /dev/poll.
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
// return EAGAIN, so every descriptor watched should be in non-blocking mode
// and every read or write should be ready to meet EAGAIN and wait for the
// next report. Readiness is level-triggered, as in Python: a descriptor
// stays ready, and is reported by every Select, until its data is read or
// its buffer drained. Errors and hang-ups are reported as
// EVENT_READ|EVENT_WRITE, masked by the events registered, so that the
// next read or write meets the error.
//
// Go's net and os types run their descriptors in non-blocking mode already,
// but their Read and Write methods park the goroutine until done; a
// selector loop reads and writes through syscall.RawConn or the raw
// descriptor instead.
//
// # Closing
//
// Unregister a file object before closing it. A descriptor closed while
// registered is dropped silently by epoll and kqueue, reported as an
// error (EVENT_READ|EVENT_WRITE) by poll and /dev/poll, and makes select
// fail with EBADF until it is unregistered. Unregister still works after
// the close. If its open file lives on through another descriptor (dup,
// fork), epoll keeps reporting it under the old number; the epoll selector
// then swaps in a new kernel set under the same number, without it.
//
// # Concurrency
//
// Every method is safe for concurrent use by multiple goroutines. Calls to
// Select and SelectInto are serialized. Register, Modify and Unregister
// called while another goroutine is blocked in Select take effect for that
// call on every backend. Wakeup makes a blocked Select return; Close makes
// it return ErrClosed. The package starts no goroutines.
package selectors

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

// Events is a set of I/O events: EVENT_READ, EVENT_WRITE or both.
type Events uint32

// The events a file object can be watched for. The names keep Python's
// spelling on purpose, as unix.EPOLLIN keeps C's.
const (
	EVENT_READ  Events = 1 << 0 // ready to read, or at end of stream, or in error
	EVENT_WRITE Events = 1 << 1 // ready to write, or in error
)

// allEvents is every event a file object can be registered for.
const allEvents = EVENT_READ | EVENT_WRITE

// String returns the events' names joined by "|", with any unknown bits in
// hexadecimal: "EVENT_READ|EVENT_WRITE", "0", "EVENT_READ|0x8".
func (e Events) String() string {
	if e == 0 {
		return "0"
	}
	var parts []string
	if e&EVENT_READ != 0 {
		parts = append(parts, "EVENT_READ")
	}
	if e&EVENT_WRITE != 0 {
		parts = append(parts, "EVENT_WRITE")
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
type Selector interface {
	// Register starts watching fileobj for events (EVENT_READ,
	// EVENT_WRITE or both) and returns its key, which carries data.
	// It returns ErrInvalidEvents, ErrInvalidFileObj, ErrAlreadyRegistered
	// (for the object or another one with the same descriptor), ErrClosed,
	// or the kernel's refusal (epoll refuses regular files with EPERM), in
	// which case nothing stays registered.
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
	// without limit, zero polls, and a positive one is rounded up to the
	// backend's resolution, so Select never returns early for want of
	// events. On timeout or Wakeup the result may be empty, with a nil
	// error. Interrupted system calls are retried with the time that
	// remains. A closed selector returns ErrClosed. Every few milliseconds
	// Select yields to the Go scheduler (runtime.Gosched) before it waits,
	// so that a loop calling it keeps its thread (see yieldAfter in the
	// source) and lets other goroutines run.
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

// poller is what every backend file provides. It only turns registrations
// into kernel calls and kernel events into Ready; the selector below does
// the rest (keys, validation, deadlines, waking and closing).
//
// The selector calls add, modify, remove and wake with its mutex held, and
// reserve, wait and ready from the one goroutine in Select, ready with the
// mutex held too and reserve and wait without it. close comes once, after
// the last wait has returned.
type poller interface {
	// add starts watching fd, which is not registered, for events.
	add(fd int, events Events) error
	// modify changes the events of a registered fd from old to events.
	modify(fd int, old, events Events) error
	// remove stops watching fd; a descriptor closed since it was added is
	// no error.
	remove(fd int, events Events) error
	// reserve makes room for the events of registered descriptors (and the
	// waker) in the next wait, so that one wait reports all that is ready.
	reserve(registered int)
	// wait blocks until the kernel reports events, the waker is woken, or
	// timeout passes (negative: no limit; never more than maxWait), and
	// returns how many kernel events it holds. An interrupted wait returns
	// 0 events and no error.
	wait(timeout time.Duration) (int, error)
	// ready appends to dst one Ready per registered descriptor among the n
	// kernel events of the last wait, masked by keys, and drains the waker
	// if it was among them, reporting that as woken.
	ready(dst []Ready, keys *keyTable, n int) (out []Ready, woken bool)
	// wake makes a blocked or the next wait return.
	wake() error
	// owns reports whether fd is one of the poller's own descriptors.
	owns(fd int) bool
	// close releases the poller's descriptors.
	close() error
}

// rebuilder is a poller that hands the kernel its whole set at every wait
// (poll, select): it rebuilds the set from the keys, with the selector's
// mutex held, before a wait that follows a change, and a change made while
// it waits wakes it to rebuild.
type rebuilder interface {
	poller
	sync(keys *keyTable)
}

// Select yields to the Go scheduler (runtime.Gosched) before a wait once
// yieldAfter has passed since it last did, which it checks every yieldCheck
// waits.
//
// A goroutine that runs 10 ms without passing through the scheduler is
// one that the runtime's sysmon thread sets out to preempt, and as it
// cannot preempt a goroutine in a system call, it takes the P (the right
// to run Go code) from the thread instead: the P goes to another thread,
// which finds nothing to do and sleeps, and when the wait returns the
// thread must get a P back and wake sysmon. An event loop that blocks
// many times a second and never yields pays this at nearly every wait:
// measured here, the example server with one client switched threads
// twice as often and took 1.6 times the CPU per request, and twice the
// user time. gnet yields before every blocking wait for the same reason,
// but a yield is not free: with idle Ps it wakes a thread to look for
// work, some microseconds, so Select yields only as often as keeps sysmon
// off. It also lets the other goroutines of a GOMAXPROCS=1 program run
// beside a Select loop that never blocks, more often than sysmon's
// preemption would.
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
	// The padding that makes a selector a multiple of 64 bytes long. The
	// Go allocator puts an object of such a size on a 64-byte boundary, the
	// cache line of the CPUs Go runs on, so that the 128 bytes at the start
	// of selectorFields, what every Select reads, take two lines.
	_ [(64 - unsafe.Sizeof(selectorFields{})%64) % 64]byte
}

// selectorFields are a selector's fields. What every Select reads comes
// first, in 128 bytes (see selector).
type selectorFields struct {
	// selecting serializes Select, and Close waits on it so that the
	// poller's descriptors are closed only once no wait can use them.
	selecting sync.Mutex

	mu         sync.Mutex   // guards keys, waiting and the poller's registrations
	p          poller       // the backend
	keys       keyTable     // guarded by mu
	closed     atomic.Bool  // set once, under mu
	registered atomic.Int32 // keys.len(), for reserve outside mu
	reserved   int32        // the registered count of the last reserve (-1: none); Select's own
	waits      uint32       // waits, counted for yieldCheck; Select's own
	r          rebuilder    // p, if it rebuilds its set at each wait; else nil

	woken   atomic.Bool   // Wakeup was called and no Select has returned for it
	waiting bool          // a rebuilder's Select is between sync and ready
	yielded time.Duration // the clock when Select last yielded to the scheduler; Select's own
	name    string        // the backend's, for BackendName
	closing sync.Mutex    // held by Close throughout
}

func newSelector(name string, p poller) selector {
	r, _ := p.(rebuilder)
	return selector{selectorFields: selectorFields{name: name, p: p, r: r, reserved: -1}}
}

func (s *selector) backendName() string { return s.name }

// checkEvents returns ErrInvalidEvents unless events is a non-empty subset
// of EVENT_READ|EVENT_WRITE.
func checkEvents(events Events) error {
	if events == 0 || events&^allEvents != 0 {
		return fmt.Errorf("%w: %v", ErrInvalidEvents, events)
	}
	return nil
}

func closedError(op string) error {
	return fmt.Errorf("%w: %s", ErrClosed, op)
}

// changed records a change of the keys, and wakes a rebuilder's Select
// blocked on a set that no longer matches them.
func (s *selector) changed() {
	s.registered.Store(int32(s.keys.len()))
	if s.waiting {
		// The wake only makes the wait look at the keys again; an error
		// here would leave it on the old set, as with a lost wakeup, and
		// there is nothing the caller of Register could do about it.
		_ = s.p.wake()
	}
}

// Register implements Selector.
func (s *selector) Register(fileobj any, events Events, data any) (SelectorKey, error) {
	if s.closed.Load() {
		return SelectorKey{}, closedError("register")
	}
	if err := checkEvents(events); err != nil {
		return SelectorKey{}, err
	}
	fd, err := fileDescriptor(fileobj)
	if err != nil {
		return SelectorKey{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return SelectorKey{}, closedError("register")
	}
	if k := s.keys.get(fd); k != nil {
		return SelectorKey{}, fmt.Errorf("%w: fd %d", ErrAlreadyRegistered, fd)
	}
	if s.p.owns(fd) {
		return SelectorKey{}, fmt.Errorf("%w: fd %d belongs to the selector itself", ErrInvalidFileObj, fd)
	}
	if err := s.p.add(fd, events); err != nil {
		return SelectorKey{}, err
	}
	key := SelectorKey{FileObj: fileobj, FD: fd, Events: events, Data: data}
	s.keys.put(key)
	s.changed()
	return key, nil
}

// Unregister implements Selector.
func (s *selector) Unregister(fileobj any) (SelectorKey, error) {
	if s.closed.Load() {
		return SelectorKey{}, closedError("unregister")
	}
	fd, fdErr := fileDescriptor(fileobj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return SelectorKey{}, closedError("unregister")
	}
	k, err := s.keys.find(fileobj, fd, fdErr)
	if err != nil {
		return SelectorKey{}, err
	}
	key, _ := s.keys.remove(k.FD)
	err = s.p.remove(key.FD, key.Events)
	s.changed()
	return key, err
}

// Modify implements Selector.
func (s *selector) Modify(fileobj any, events Events, data any) (SelectorKey, error) {
	if s.closed.Load() {
		return SelectorKey{}, closedError("modify")
	}
	fd, fdErr := fileDescriptor(fileobj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return SelectorKey{}, closedError("modify")
	}
	// The object first, then the events, as Python's modify looks them
	// up: an object not registered is ErrNotRegistered whatever the events.
	k, err := s.keys.find(fileobj, fd, fdErr)
	if err != nil {
		return SelectorKey{}, err
	}
	if err := checkEvents(events); err != nil {
		return SelectorKey{}, err
	}
	if events != k.Events {
		if err := s.p.modify(k.FD, k.Events, events); err != nil {
			// Python's behaviour: the object is dropped, so that the keys
			// and the kernel never disagree.
			key, _ := s.keys.remove(k.FD)
			_ = s.p.remove(key.FD, key.Events)
			s.changed()
			return SelectorKey{}, err
		}
		defer s.changed()
	}
	k.Events, k.Data = events, data
	return *k, nil
}

// GetKey implements Selector.
func (s *selector) GetKey(fileobj any) (SelectorKey, error) {
	if s.closed.Load() {
		return SelectorKey{}, closedError("get key")
	}
	fd, fdErr := fileDescriptor(fileobj)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return SelectorKey{}, closedError("get key")
	}
	k, err := s.keys.find(fileobj, fd, fdErr)
	if err != nil {
		return SelectorKey{}, err
	}
	return *k, nil
}

// GetMap implements Selector.
func (s *selector) GetMap() map[int]SelectorKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil
	}
	return s.keys.snapshot()
}

// Select implements Selector.
func (s *selector) Select(timeout time.Duration) ([]Ready, error) {
	return s.SelectInto(nil, timeout)
}

// SelectInto implements Selector.
func (s *selector) SelectInto(dst []Ready, timeout time.Duration) ([]Ready, error) {
	// The mutexes are released on every way out below, not deferred: a
	// defer keeps the results in memory for a panic's sake, and with them
	// it made a fifth of this function's instructions on the way through
	// (35 of 160 per Select, counted with callgrind in the example server
	// at one connection). Nothing in between calls the caller's code, so
	// only a bug of this package could panic there.
	s.selecting.Lock()
	// Only a positive timeout has a deadline, a duration on the monotonic
	// clock (see clock): one word for the loop to keep across the wait,
	// where a time.Time takes three.
	var until time.Duration
	if timeout > 0 {
		until = deadline(timeout)
	}
	for {
		// What is rarely done is done in methods of its own, so that the
		// instructions run at every Select fill few cache lines: a loop
		// that waits has lost them by the time the wait returns.
		if s.r != nil || s.closed.Load() || s.registered.Load() != s.reserved {
			if err := s.beforeWait(); err != nil {
				s.selecting.Unlock()
				return dst, err
			}
		}
		if s.waits++; s.waits%yieldCheck == 0 {
			s.yield()
		}
		wait := timeout
		if timeout > 0 {
			wait = max(0, min(until-clock(), maxWait))
		}
		n, err := s.p.wait(wait)

		s.mu.Lock()
		s.waiting = false
		if err != nil || s.closed.Load() {
			err = s.afterFailedWait(err)
			s.selecting.Unlock()
			return dst, err
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
		if woken && s.woken.Swap(false) || len(out) > len(dst) || timeout == 0 ||
			timeout > 0 && clock() >= until {
			s.selecting.Unlock()
			return out, nil
		}
		// Nothing for the caller yet: an internal wake after a change of
		// registrations, an interrupted wait, or a kernel timer that fired
		// before our clock says the deadline passed. Wait for what remains.
	}
}

// beforeWait is what Select does before a wait besides yielding, when it
// has anything to do: fail once the selector is closed, rebuild a
// rebuilder's set, or make room for the events of what was registered
// since the last wait.
func (s *selector) beforeWait() error {
	if s.closed.Load() {
		return closedError("select")
	}
	if s.r != nil {
		s.mu.Lock()
		s.r.sync(&s.keys)
		s.waiting = true
		s.mu.Unlock()
	} else if r := s.registered.Load(); r != s.reserved {
		s.p.reserve(int(r))
		s.reserved = r
	}
	return nil
}

// afterFailedWait returns Select's error when the wait failed (err) or the
// selector was closed during it: ErrClosed first. It releases s.mu.
func (s *selector) afterFailedWait(err error) error {
	if s.closed.Load() {
		err = closedError("select")
	}
	s.mu.Unlock()
	return err
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

// deadline is the clock when timeout, which is positive, will have passed;
// the largest Duration if that is past it.
func deadline(timeout time.Duration) time.Duration {
	now := clock()
	if timeout > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + timeout
}

// Wakeup implements Selector.
func (s *selector) Wakeup() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return closedError("wakeup")
	}
	s.woken.Store(true)
	return s.p.wake()
}

// Close implements Selector.
func (s *selector) Close() error {
	// A Close while another is under way waits for it, so that whichever
	// returns, the descriptors are closed by then.
	s.closing.Lock()
	defer s.closing.Unlock()
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	// A Select blocked in another goroutine sees closed once woken. Only a
	// rebuilder's records that it waits, so wake whether or not one does.
	wakeErr := s.p.wake()
	s.keys = keyTable{}
	s.registered.Store(0)
	s.mu.Unlock()

	// Wait for that Select to leave before closing the descriptors it
	// waits on: a number closed under it could be reused by the process.
	s.selecting.Lock()
	defer s.selecting.Unlock()
	return errors.Join(wakeErr, s.p.close())
}
