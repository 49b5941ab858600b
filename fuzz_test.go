//go:build linux

package selectors

// FuzzSelector turns its input into a program of operations on a selector
// and a small pool of pipes and socket pairs, runs the program against
// every backend, and checks every result against a model of the contract
// and of what the Linux kernel knows about the pool: which keys exist, what
// each call returns, and what Select(0) must report with which mask.
//
// Where the kernel's answer is not knowable from the outside (is a socket
// whose buffer was filled and then partly read writable again?) the model
// accepts either answer and learns from what the call returned. Where the
// contract leaves room, the model accepts any mask within the key's events,
// but never two Ready for one descriptor: that is for epoll once a
// registered number was closed while its open file lives on through a dup.
// The kernel keeps such a stale item until the file is released, and the
// library purges stale items by building a new epoll set from its keys
// when it sees one, which also starts watching whatever file a registered
// number names by then.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The operations of a fuzz program: one byte for the operation (modulo
// fzNumOps), then its arguments, one byte each.
const (
	fzRegister   = iota // slot, events, object type
	fzModify            // slot, events, object type
	fzUnregister        // slot, object type
	fzGetKey            // slot, object type
	fzGetMap            //
	fzSelect            // Select(0)
	fzWrite             // slot, size-1
	fzRead              // slot, size-1
	fzDrain             // slot
	fzFill              // slot
	fzClose             // slot
	fzDup               // destination slot, source slot: dup3 onto the destination's number
	fzWakeup            //
	fzBadObject         // which call and which bad object
	fzOwnFD             // which of the selector's own descriptors, which call
	fzCloseSel          // closes the selector if the argument is >= 0xf0
	fzNumOps
)

// The pool: fzPipes pipes then fzPairs socket pairs, two slots each.
const (
	fzPipes  = 4
	fzPairs  = 4
	fzSlots  = 2 * (fzPipes + fzPairs)
	fzMaxOps = 256 // per backend, whatever the input's length
)

// fzFD is a named integer type: a file object that is an integer, but not
// an int.
type fzFD uint16

// fzObject returns the file object of type b for descriptor number fd.
func fzObjectOf(b byte, fd int) any {
	switch b % 4 {
	case 1:
		return uintptr(fd)
	case 2:
		return int32(fd)
	case 3:
		return fzFD(fd)
	}
	return fd
}

// validEvents is the contract's rule: non-zero, within
// EVENT_READ|EVENT_WRITE|EVENT_URGENT, which every backend fuzzed here
// can report.
func validEvents(ev Events) bool {
	return ev != 0 && ev&^allEvents == 0
}

// fzEvents maps a byte to events: mostly valid ones, sometimes 0 or an
// unknown bit.
func fzEvents(b byte) Events {
	switch b % 16 {
	case 13:
		return 0
	case 14:
		return 8
	case 15:
		return EVENT_READ | 8
	}
	return Events(b%7) + 1
}

type fzKind uint8

const (
	fzPipeRead fzKind = iota
	fzPipeWrite
	fzSock
)

func (k fzKind) String() string { return [...]string{"pipe-read", "pipe-write", "socket"}[k] }

// fzFile is the model of one open file description (one end of a pipe or
// socket pair), which several descriptor numbers can share after dup3.
type fzFile struct {
	kind     fzKind
	peer     int  // the other end's index
	refs     int  // descriptor numbers that refer to it
	released bool // refs reached 0: the kernel released it

	in        int  // bytes that can be read from it
	inWrites  int  // writes that made up in since it was last empty
	inFull    bool // the peer filled in and nothing was read since: the peer is not writable
	inWasFull bool // the peer filled in since it was last empty: its writability is unknown
	reset     bool // a socket whose peer was released with data unread: ECONNRESET is pending
}

// fzSlotState is one descriptor number of the pool.
type fzSlotState struct {
	num  int // the number, fixed for the run
	file int // the file it refers to, or -1 once closed
}

// fzStale is an epoll item that may be left in the kernel's set: its
// number was closed while registered and its file lives on. The kernel
// keys items by file and number, and drops them only when the file is
// released; the library may purge them sooner.
type fzStale struct{ file, num int }

type fzKey struct {
	key SelectorKey
	// epoll: the number still names the file it was registered with, and
	// the kernel's item for it is known to be there. A key whose number
	// was closed since is not clean: epoll dropped its item or left it
	// stale, and a purge may have added one for the number's new file.
	clean bool
}

// fzModel is what the selector and the kernel must hold.
type fzModel struct {
	t       testing.TB
	backend string
	sel     Selector
	own     []int // the selector's own descriptors
	closed  bool  // the selector
	files   []fzFile
	slots   []fzSlotState
	keys    map[int]fzKey // by number
	stale   []fzStale     // epoll only
	step    int           // the operation running, for messages
	trace   []string      // the operations so far, for messages
}

func (m *fzModel) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("%s: op %d: %s\nprogram so far:\n  %s", m.backend, m.step, fmt.Sprintf(format, args...), strings.Join(m.trace, "\n  "))
}

func (m *fzModel) logf(format string, args ...any) {
	m.trace = append(m.trace, fmt.Sprintf(format, args...))
}

// fdsOf returns the numbers /proc/self/fd lists, less the one it opened
// to list them.
func fdsOf(t testing.TB) []int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// newFzModel opens the pool and a selector of backend.
func newFzModel(t testing.TB, backend string) *fzModel {
	m := &fzModel{t: t, backend: backend, keys: map[int]fzKey{}}
	for range fzPipes {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		i := len(m.files)
		m.files = append(m.files, fzFile{kind: fzPipeRead, peer: i + 1, refs: 1}, fzFile{kind: fzPipeWrite, peer: i, refs: 1})
		m.slots = append(m.slots, fzSlotState{p[0], i}, fzSlotState{p[1], i + 1})
	}
	for range fzPairs {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		i := len(m.files)
		m.files = append(m.files, fzFile{kind: fzSock, peer: i + 1, refs: 1}, fzFile{kind: fzSock, peer: i, refs: 1})
		m.slots = append(m.slots, fzSlotState{p[0], i}, fzSlotState{p[1], i + 1})
	}
	before := fdsOf(t)
	s, err := New(backend)
	if err != nil {
		t.Fatal(err)
	}
	m.sel = s
	for _, fd := range fdsOf(t) {
		if !slices.Contains(before, fd) {
			m.own = append(m.own, fd)
		}
	}
	if len(m.own) == 0 {
		t.Fatalf("%s: the selector opened no descriptor", backend)
	}
	return m
}

// release closes the selector (if the program did not) and every number
// of the pool still open. It runs deferred, after a failure too, so it
// reports with Errorf.
func (m *fzModel) release() {
	if !m.closed {
		if err := m.sel.Close(); err != nil {
			m.t.Errorf("%s: Close: %v", m.backend, err)
		}
		m.closed = true
	}
	for i := range m.slots {
		if m.slots[i].file >= 0 {
			if err := unix.Close(m.slots[i].num); err != nil {
				m.t.Errorf("%s: close(%d): %v", m.backend, m.slots[i].num, err)
			}
			m.slots[i].file = -1
		}
	}
}

func (m *fzModel) fileOf(slot int) *fzFile {
	if f := m.slots[slot].file; f >= 0 {
		return &m.files[f]
	}
	return nil
}

// fileAt returns the file that number num refers to, or -1.
func (m *fzModel) fileAt(num int) int {
	for _, s := range m.slots {
		if s.num == num {
			return s.file
		}
	}
	return -1
}

// closeSlot closes the slot's number, and releases its file if that was
// the last number referring to it.
func (m *fzModel) closeSlot(slot int) {
	s := &m.slots[slot]
	if err := unix.Close(s.num); err != nil {
		m.fatalf("close(%d): %v", s.num, err)
	}
	f := s.file
	m.numClosed(s.num, f)
	s.file = -1
	m.unref(f)
}

// numClosed records, for epoll, that num no longer names file: a key on
// it is no longer clean, and if the file lives on, its item may stay.
func (m *fzModel) numClosed(num, file int) {
	k, ok := m.keys[num]
	if m.backend != "epoll" || !ok || m.closed {
		return
	}
	k.clean = false
	m.keys[num] = k
	if m.files[file].refs > 1 && !slices.Contains(m.stale, fzStale{file, num}) {
		m.stale = append(m.stale, fzStale{file, num})
	}
}

// dropStale forgets the stale item (file, num), which is gone for sure.
func (m *fzModel) dropStale(file, num int) {
	m.stale = slices.DeleteFunc(m.stale, func(st fzStale) bool { return st.file == file && st.num == num })
}

func (m *fzModel) unref(fi int) {
	f := &m.files[fi]
	if f.refs--; f.refs > 0 {
		return
	}
	f.released = true
	peer := &m.files[f.peer]
	if f.kind == fzSock && f.in > 0 && !peer.released {
		peer.reset = true // unix_release_sock: data left unread resets the peer
	}
	if f.kind != fzPipeWrite {
		// Its receive queue (or the pipe, once the reader is gone) no
		// longer holds back the peer's writes.
		f.in, f.inWrites, f.inFull, f.inWasFull = 0, 0, false, false
	}
	// epoll drops the items of a released file.
	m.stale = slices.DeleteFunc(m.stale, func(st fzStale) bool { return st.file == fi })
	m.awaitRelease(fi)
}

// awaitRelease waits until the kernel has released file fi, as its peer
// shows by a hang-up or error, if any number still names the peer. A
// close(2) releases the file only if it drops the last reference: another
// thread or process that holds the file for an instant (a reader of
// /proc/PID/fd takes one) moves the release to when it lets go.
func (m *fzModel) awaitRelease(fi int) {
	peer := m.files[fi].peer
	num := -1
	for _, s := range m.slots {
		if s.file == peer {
			num = s.num
			break
		}
	}
	if num < 0 {
		return
	}
	fds := []unix.PollFd{{Fd: int32(num)}}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		// The peer has a hang-up or an error only once fi is released:
		// an end of a pipe loses its last reader or writer, a socket its
		// peer.
		if _, err := unix.Poll(fds, 10); err != nil && err != unix.EINTR {
			m.fatalf("poll(%d): %v", num, err)
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return
		}
	}
	m.fatalf("file %d (%v) still not released 2s after its last number was closed", fi, m.files[fi].kind)
}

// writable says whether the file's writes would fit: yes, no or unknown.
func (m *fzModel) writable(f *fzFile) (yes, unknown bool) {
	r := &m.files[f.peer]
	switch {
	case r.in == 0:
		return true, false
	case r.inFull:
		return false, false
	case r.inWasFull:
		return false, true
	case r.inWrites <= 16 && r.in <= 8192:
		// A pipe has 16 pages, and a unix socket is writable while a
		// quarter of its send buffer (about 53 KB) is free: a few small
		// writes take neither.
		return true, false
	}
	return false, true
}

// The poll bits the model reasons with.
const (
	pIN   = uint32(unix.POLLIN)
	pOUT  = uint32(unix.POLLOUT)
	pERR  = uint32(unix.POLLERR)
	pHUP  = uint32(unix.POLLHUP)
	pNVAL = uint32(unix.POLLNVAL)
)

// revents is what the file's poll method reports: sure bits, and bits
// (POLLOUT) it may or may not report.
func (m *fzModel) revents(fi int) (sure, maybe uint32) {
	f := &m.files[fi]
	peer := &m.files[f.peer]
	switch f.kind {
	case fzPipeRead:
		if f.in > 0 {
			sure |= pIN
		}
		if peer.released {
			sure |= pHUP
		}
	case fzPipeWrite:
		if peer.released {
			return pERR, pOUT // POLLOUT is moot beside POLLERR
		}
		if yes, unknown := m.writable(f); yes {
			sure |= pOUT
		} else if unknown {
			maybe |= pOUT
		}
	case fzSock:
		if f.reset {
			sure |= pERR
		}
		if peer.released {
			// "we set writable also when the other side has shut down
			// the connection" (unix_poll).
			return sure | pIN | pHUP | pOUT, 0
		}
		if f.in > 0 {
			sure |= pIN
		}
		if yes, unknown := m.writable(f); yes {
			sure |= pOUT
		} else if unknown {
			maybe |= pOUT
		}
	}
	return sure, maybe
}

// toPollBits is what the kernel reports of the events registered: the
// files fuzzed here (pipes, Unix sockets) never have POLLPRI, so
// EVENT_URGENT adds nothing.
func toPollBits(ev Events) uint32 {
	var b uint32
	if ev&EVENT_READ != 0 {
		b |= pIN
	}
	if ev&EVENT_WRITE != 0 {
		b |= pOUT
	}
	return b
}

// pollEvents is the contract's mapping for poll and epoll: an error or
// hang-up is every event, masked by the key's.
func pollEvents(revents uint32, keyEvents Events) Events {
	if revents&^(pIN|pOUT) != 0 {
		return keyEvents
	}
	var e Events
	if revents&pIN != 0 {
		e |= EVENT_READ
	}
	if revents&pOUT != 0 {
		e |= EVENT_WRITE
	}
	return e & keyEvents
}

// selectEvents is select(2)'s: POLLIN_SET and POLLOUT_SET of fs/select.c.
func selectEvents(revents uint32, keyEvents Events) Events {
	var e Events
	if revents&(pIN|pHUP|pERR) != 0 {
		e |= EVENT_READ
	}
	if revents&(pOUT|pERR) != 0 {
		e |= EVENT_WRITE
	}
	return e & keyEvents
}

// maskSet is a set of masks, bit m for mask m; bit 0 means "not reported".
type maskSet uint8

func (s maskSet) has(e Events) bool { return s&(1<<e) != 0 }

// both returns the masks f gives with and without the bits of maybe.
func both(sure, maybe uint32, f func(uint32) Events) maskSet {
	s := maskSet(1) << f(sure)
	if maybe != 0 {
		s |= 1 << f(sure|maybe)
	}
	return s
}

// anyWithin is every mask within ev, "not reported" included.
func anyWithin(ev Events) maskSet {
	var s maskSet
	for e := Events(0); e <= allEvents; e++ {
		if e&^ev == 0 {
			s |= 1 << e
		}
	}
	return s
}

// expectSelect returns the masks Select(0) may report for each number, or
// the kernel error it must fail with.
func (m *fzModel) expectSelect() (map[int]maskSet, error) {
	want := map[int]maskSet{}
	switch m.backend {
	case "epoll":
		for num, k := range m.keys {
			var contrib []maskSet
			fi := m.fileAt(num)
			switch {
			case k.clean:
				sure, maybe := m.revents(fi)
				filter := toPollBits(k.key.Events) | pERR | pHUP
				contrib = append(contrib, both(sure&filter, maybe&filter, func(r uint32) Events { return pollEvents(r, k.key.Events) }))
			case fi >= 0:
				// A purge may have added an item for the file the number
				// names now.
				contrib = append(contrib, anyWithin(k.key.Events))
			}
			for _, st := range m.stale {
				if st.num == num {
					contrib = append(contrib, anyWithin(k.key.Events))
				}
			}
			if len(contrib) == 0 {
				continue
			}
			var s maskSet = 1 // "not reported" if every item may report nothing
			for _, c := range contrib {
				if !c.has(0) {
					s = 0
				}
			}
			for _, c := range contrib {
				s |= c &^ 1
			}
			want[num] = s
		}
	case "poll":
		for num, k := range m.keys {
			fi := m.fileAt(num)
			if fi < 0 {
				want[num] = 1 << pollEvents(pNVAL, k.key.Events)
				continue
			}
			sure, maybe := m.revents(fi)
			filter := toPollBits(k.key.Events) | pERR | pHUP
			want[num] = both(sure&filter, maybe&filter, func(r uint32) Events { return pollEvents(r, k.key.Events) })
		}
	case "select":
		for num, k := range m.keys {
			fi := m.fileAt(num)
			if fi < 0 {
				return nil, unix.EBADF
			}
			sure, maybe := m.revents(fi)
			want[num] = both(sure, maybe, func(r uint32) Events { return selectEvents(r, k.key.Events) })
		}
	default:
		m.fatalf("no model for backend %q", m.backend)
	}
	return want, nil
}

// checkErr fails unless err wraps want (nil: no error).
func (m *fzModel) checkErr(what string, err, want error) {
	m.t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		m.fatalf("%s: error %v, want %v", what, err, want)
	}
}

func (m *fzModel) checkKey(what string, got, want SelectorKey) {
	m.t.Helper()
	if got != want {
		m.fatalf("%s: key %+v, want %+v", what, got, want)
	}
}

func (m *fzModel) checkSelect() {
	rs, err := m.sel.Select(0)
	if m.closed {
		m.checkErr("Select", err, ErrClosed)
		return
	}
	want, wantErr := m.expectSelect()
	if wantErr != nil {
		m.checkErr("Select", err, wantErr)
		return
	}
	if err != nil {
		m.fatalf("Select: %v", err)
	}
	if rs == nil {
		m.fatalf("Select: nil result, want an empty slice")
	}
	got := map[int]Events{}
	for _, r := range rs {
		if _, dup := got[r.Key.FD]; dup {
			m.fatalf("Select: two Ready for fd %d: %v", r.Key.FD, rs)
		}
		got[r.Key.FD] = r.Mask
		k, ok := m.keys[r.Key.FD]
		if !ok {
			m.fatalf("Select: fd %d is not registered: %v", r.Key.FD, rs)
		}
		m.checkKey("Select", r.Key, k.key)
		if r.Mask == 0 || r.Mask&^k.key.Events != 0 {
			m.fatalf("Select: mask %v of fd %d is empty or outside %v", r.Mask, r.Key.FD, k.key.Events)
		}
	}
	for num := range m.keys {
		s, ok := want[num]
		if !ok {
			s = 1
		}
		if !s.has(got[num]) {
			var allowed []string
			for e := Events(0); e <= allEvents; e++ {
				if s.has(e) {
					allowed = append(allowed, e.String())
				}
			}
			m.fatalf("Select: fd %d (%s) reported %v, want one of %v; whole result %v",
				num, m.describe(num), got[num], allowed, rs)
		}
	}
}

func (m *fzModel) describe(num int) string {
	fi := m.fileAt(num)
	if fi < 0 {
		return "closed"
	}
	f := m.files[fi]
	return fmt.Sprintf("file %d %v in=%d writes=%d full=%v wasFull=%v reset=%v peerReleased=%v",
		fi, f.kind, f.in, f.inWrites, f.inFull, f.inWasFull, f.reset, m.files[f.peer].released)
}

func (m *fzModel) checkMap() {
	got := m.sel.GetMap()
	if m.closed {
		if got != nil {
			m.fatalf("GetMap after Close: %v, want nil", got)
		}
		return
	}
	if got == nil || len(got) != len(m.keys) {
		m.fatalf("GetMap: %v, want %d keys", got, len(m.keys))
	}
	for num, k := range m.keys {
		m.checkKey(fmt.Sprintf("GetMap[%d]", num), got[num], k.key)
	}
}

func (m *fzModel) register(num int, obj any, ev Events, data int) {
	key, err := m.sel.Register(obj, ev, data)
	m.logf("Register(%T %v, %v) = %v", obj, obj, ev, err)
	switch {
	case m.closed:
		m.checkErr("Register", err, ErrClosed)
		return
	case !validEvents(ev):
		m.checkErr("Register", err, ErrInvalidEvents)
		return
	}
	if _, ok := m.keys[num]; ok {
		m.checkErr("Register", err, ErrAlreadyRegistered)
		return
	}
	fi := m.fileAt(num)
	if m.backend == "epoll" {
		if fi < 0 {
			m.checkErr("Register", err, unix.EBADF)
			return
		}
		if slices.Contains(m.stale, fzStale{fi, num}) {
			// The number names again a file whose stale item it may
			// still have: the kernel refuses the add, unless a purge
			// took the item away.
			if err != nil {
				m.checkErr("Register", err, unix.EEXIST)
				return
			}
			m.dropStale(fi, num)
		}
	}
	m.checkErr("Register", err, nil)
	want := SelectorKey{FileObj: obj, FD: num, Events: ev, Data: data}
	m.checkKey("Register", key, want)
	m.keys[num] = fzKey{key: want, clean: true}
}

func (m *fzModel) modify(num int, obj any, ev Events, data int) {
	key, err := m.sel.Modify(obj, ev, data)
	m.logf("Modify(%T %v, %v) = %v", obj, obj, ev, err)
	switch {
	case m.closed:
		m.checkErr("Modify", err, ErrClosed)
		return
	}
	k, ok := m.keys[num]
	if !ok {
		m.checkErr("Modify", err, ErrNotRegistered) // whatever the events, as in Python
		return
	}
	if !validEvents(ev) {
		m.checkErr("Modify", err, ErrInvalidEvents)
		return
	}
	if m.backend == "epoll" && ev != k.key.Events && !k.clean {
		// EPOLL_CTL_MOD: EBADF on a closed number; on a number that
		// names another file since, ENOENT unless a purge added an item
		// for that file (or the number names the file of a stale item).
		// A refused Modify unregisters (Python's behaviour).
		var kernelErr error = unix.ENOENT
		if m.fileAt(num) < 0 {
			kernelErr = unix.EBADF
		}
		if err != nil || kernelErr == unix.EBADF {
			m.checkErr("Modify", err, kernelErr)
			delete(m.keys, num)
			return
		}
	}
	m.checkErr("Modify", err, nil)
	k.key.Events, k.key.Data = ev, data
	m.checkKey("Modify", key, k.key)
	m.keys[num] = k
}

func (m *fzModel) unregister(num int, obj any) {
	key, err := m.sel.Unregister(obj)
	m.logf("Unregister(%T %v) = %v", obj, obj, err)
	if m.closed {
		m.checkErr("Unregister", err, ErrClosed)
		return
	}
	k, ok := m.keys[num]
	if !ok {
		m.checkErr("Unregister", err, ErrNotRegistered)
		return
	}
	m.checkErr("Unregister", err, nil)
	m.checkKey("Unregister", key, k.key)
	delete(m.keys, num)
	if m.backend == "epoll" {
		// epoll_ctl(DEL) reaches an item only through a number that
		// still names its file; EBADF and ENOENT are swallowed.
		if fi := m.fileAt(num); fi >= 0 {
			m.dropStale(fi, num)
		}
	}
}

func (m *fzModel) getKey(num int, obj any) {
	key, err := m.sel.GetKey(obj)
	if m.closed {
		m.checkErr("GetKey", err, ErrClosed)
		return
	}
	k, ok := m.keys[num]
	if !ok {
		m.checkErr("GetKey", err, ErrNotRegistered)
		return
	}
	m.checkErr("GetKey", err, nil)
	m.checkKey("GetKey", key, k.key)
}

// write writes size bytes to the slot's number.
func (m *fzModel) write(slot, size int) {
	s := m.slots[slot]
	n, err := unix.Write(s.num, make([]byte, size))
	m.logf("write(slot %d fd %d, %d) = %d, %v", slot, s.num, size, n, err)
	f := m.fileOf(slot)
	switch {
	case f == nil || f.kind == fzPipeRead:
		m.checkErr("write", err, unix.EBADF)
		return
	case m.files[f.peer].released:
		m.checkBroken("write", err)
		return
	}
	if yes, _ := m.writable(f); yes {
		if err != nil || n != size {
			m.fatalf("write to writable fd %d (%s): %d, %v; want %d", s.num, m.describe(s.num), n, err, size)
		}
	} else if err != nil && err != unix.EAGAIN {
		m.fatalf("write to fd %d: %v", s.num, err)
	}
	if n > 0 {
		r := &m.files[f.peer]
		r.in += n
		r.inWrites++
	}
}

// checkBroken checks a write to a file whose peer is released: EPIPE,
// even on a socket with ECONNRESET pending (the peer's release shut down
// its sending side, which unix_stream_sendmsg checks first).
func (m *fzModel) checkBroken(what string, err error) {
	m.t.Helper()
	m.checkErr(what, err, unix.EPIPE)
}

// read reads at most size bytes from the slot's number, and reports
// whether it met the end (0 bytes, EAGAIN or an error).
func (m *fzModel) read(slot, size int) (more bool) {
	s := m.slots[slot]
	buf := make([]byte, size)
	n, err := unix.Read(s.num, buf)
	f := m.fileOf(slot)
	switch {
	case f == nil || f.kind == fzPipeWrite:
		m.checkErr("read", err, unix.EBADF)
		return false
	case f.in > 0:
		if want := min(size, f.in); err != nil || n != want {
			m.fatalf("read(fd %d, %d) of %d bytes: %d, %v; want %d", s.num, size, f.in, n, err, want)
		}
		f.in -= n
		f.inFull = false
		if f.in == 0 {
			f.inWrites, f.inWasFull = 0, false
		}
		return true
	case m.files[f.peer].released:
		if f.reset {
			m.checkErr("read", err, unix.ECONNRESET)
			f.reset = false
			return false
		}
		if err != nil || n != 0 {
			m.fatalf("read(fd %d) at the end: %d, %v; want 0", s.num, n, err)
		}
		return false
	}
	m.checkErr("read", err, unix.EAGAIN)
	return false
}

// fill writes to the slot's number until it would block.
func (m *fzModel) fill(slot int) {
	s := m.slots[slot]
	f := m.fileOf(slot)
	chunk := make([]byte, 64<<10)
	total, writes := 0, 0
	for i := 0; ; i++ {
		if i == 64 {
			m.fatalf("fill: fd %d still writable after %d bytes", s.num, total)
		}
		n, err := unix.Write(s.num, chunk)
		switch {
		case f == nil || f.kind == fzPipeRead:
			m.checkErr("fill", err, unix.EBADF)
			return
		case m.files[f.peer].released:
			m.checkBroken("fill", err)
			return
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			m.fatalf("fill: write(fd %d): %v", s.num, err)
		}
		total += n
		writes++
	}
	m.logf("fill(slot %d fd %d) = %d bytes", slot, s.num, total)
	r := &m.files[f.peer]
	r.in += total
	r.inWrites += writes
	r.inFull, r.inWasFull = true, true
}

// dup makes dst's number refer to src's file: dup3 closes the number first
// if it is open.
func (m *fzModel) dup(dst, src int) {
	d, s := &m.slots[dst], m.slots[src]
	if s.file < 0 || d.num == s.num {
		return
	}
	if d.file < 0 {
		// The number is closed: make sure nobody else in the process took
		// it meanwhile, or dup3 would close their file.
		if _, err := unix.FcntlInt(uintptr(d.num), unix.F_GETFD, 0); err != unix.EBADF {
			m.fatalf("fd %d, closed by the program, is open again (%v): another part of the process took it", d.num, err)
		}
	}
	if err := unix.Dup3(s.num, d.num, unix.O_CLOEXEC); err != nil {
		m.fatalf("dup3(%d, %d): %v", s.num, d.num, err)
	}
	m.logf("dup3(slot %d fd %d → slot %d fd %d)", src, s.num, dst, d.num)
	old := d.file
	if old >= 0 {
		m.numClosed(d.num, old)
	}
	d.file = s.file
	m.files[s.file].refs++
	if old >= 0 {
		m.unref(old)
	}
}

func (m *fzModel) badObject(which, kind byte) {
	objs := []any{-1, int8(-3), int64(-7), nil}
	obj := objs[kind%4]
	var err error
	what := ""
	switch which % 4 {
	case 0:
		what = "Register"
		_, err = m.sel.Register(obj, EVENT_READ, nil)
	case 1:
		what = "Modify"
		_, err = m.sel.Modify(obj, EVENT_WRITE, nil)
	case 2:
		what = "Unregister"
		_, err = m.sel.Unregister(obj)
	case 3:
		what = "GetKey"
		_, err = m.sel.GetKey(obj)
	}
	m.logf("%s(%T %v) = %v", what, obj, obj, err)
	if m.closed {
		m.checkErr(what, err, ErrClosed)
		return
	}
	m.checkErr(what, err, ErrInvalidFileObj)
}

func (m *fzModel) ownFD(which, call byte) {
	fd := m.own[int(which)%len(m.own)]
	if fd < 0 {
		return
	}
	var err error
	what := ""
	switch call % 3 {
	case 0:
		what = "Register"
		_, err = m.sel.Register(fd, EVENT_READ, nil)
	case 1:
		what = "Unregister"
		_, err = m.sel.Unregister(fd)
	case 2:
		what = "GetKey"
		_, err = m.sel.GetKey(fd)
	}
	m.logf("%s(own fd %d) = %v", what, fd, err)
	switch {
	case m.closed:
		m.checkErr(what, err, ErrClosed)
	case what == "Register":
		m.checkErr(what, err, ErrInvalidFileObj)
	default:
		m.checkErr(what, err, ErrNotRegistered)
	}
}

func (m *fzModel) closeSelector() {
	m.logf("Close()")
	if err := m.sel.Close(); err != nil {
		m.fatalf("Close: %v", err)
	}
	m.closed = true
	m.keys = map[int]fzKey{}
	m.stale = nil
	for i := range m.own {
		m.own[i] = -1 // their numbers are free for anyone now
	}
}

// run runs the program in data.
func (m *fzModel) run(data []byte) {
	arg := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	for ; len(data) > 0 && m.step < fzMaxOps; m.step++ {
		op := int(arg()) % fzNumOps
		switch op {
		case fzRegister, fzModify:
			slot, ev, kind := int(arg())%fzSlots, fzEvents(arg()), arg()
			num := m.slots[slot].num
			if op == fzRegister {
				m.register(num, fzObjectOf(kind, num), ev, m.step)
			} else {
				m.modify(num, fzObjectOf(kind, num), ev, m.step)
			}
		case fzUnregister:
			slot, kind := int(arg())%fzSlots, arg()
			num := m.slots[slot].num
			m.unregister(num, fzObjectOf(kind, num))
		case fzGetKey:
			slot, kind := int(arg())%fzSlots, arg()
			num := m.slots[slot].num
			m.getKey(num, fzObjectOf(kind, num))
		case fzGetMap:
			m.checkMap()
		case fzSelect:
			m.logf("Select(0)")
			m.checkSelect()
		case fzWrite:
			slot, size := int(arg())%fzSlots, int(arg())+1
			m.write(slot, size)
		case fzRead:
			slot, size := int(arg())%fzSlots, int(arg())+1
			m.read(slot, size)
			m.logf("read(slot %d, %d)", slot, size)
		case fzDrain:
			slot := int(arg()) % fzSlots
			for i := 0; m.read(slot, 64<<10); i++ {
				if i == 64 {
					m.fatalf("drain: slot %d never empties", slot)
				}
			}
			m.logf("drain(slot %d)", slot)
		case fzFill:
			m.fill(int(arg()) % fzSlots)
		case fzClose:
			slot := int(arg()) % fzSlots
			if m.slots[slot].file >= 0 {
				m.logf("close(slot %d fd %d)", slot, m.slots[slot].num)
				m.closeSlot(slot)
			}
		case fzDup:
			m.dup(int(arg())%fzSlots, int(arg())%fzSlots)
		case fzWakeup:
			err := m.sel.Wakeup()
			m.logf("Wakeup() = %v", err)
			if m.closed {
				m.checkErr("Wakeup", err, ErrClosed)
			} else {
				m.checkErr("Wakeup", err, nil)
			}
		case fzBadObject:
			m.badObject(arg(), arg())
		case fzOwnFD:
			m.ownFD(arg(), arg())
		case fzCloseSel:
			if arg() >= 0xf0 && !m.closed {
				m.closeSelector()
			}
		}
	}
	// At the end: the map, one more Select, and Close leaves every call
	// refusing with ErrClosed.
	m.checkMap()
	m.checkSelect()
	if !m.closed {
		m.closeSelector()
	}
	m.checkAfterClose()
}

func (m *fzModel) checkAfterClose() {
	if err := m.sel.Close(); err != nil {
		m.fatalf("second Close: %v", err)
	}
	num := m.slots[0].num
	_, err := m.sel.Register(num, EVENT_READ, nil)
	m.checkErr("Register after Close", err, ErrClosed)
	_, err = m.sel.Modify(num, EVENT_READ, nil)
	m.checkErr("Modify after Close", err, ErrClosed)
	_, err = m.sel.Unregister(num)
	m.checkErr("Unregister after Close", err, ErrClosed)
	_, err = m.sel.GetKey(num)
	m.checkErr("GetKey after Close", err, ErrClosed)
	_, err = m.sel.SelectInto(nil, -1)
	m.checkErr("SelectInto after Close", err, ErrClosed)
	m.checkErr("Wakeup after Close", m.sel.Wakeup(), ErrClosed)
	if got := m.sel.GetMap(); got != nil {
		m.fatalf("GetMap after Close: %v", got)
	}
}

// fuzzBackends is every backend, or those SELECTORS_FUZZ_BACKENDS names
// (comma-separated), so that CI can give each its own fuzzing time.
func fuzzBackends(t testing.TB) []string {
	names := Backends()
	if only := os.Getenv("SELECTORS_FUZZ_BACKENDS"); only != "" {
		names = strings.Split(only, ",")
		for _, n := range names {
			if !slices.Contains(Backends(), n) {
				t.Fatalf("SELECTORS_FUZZ_BACKENDS: no backend %q here (have %v)", n, Backends())
			}
		}
	}
	return names
}

func FuzzSelector(f *testing.F) {
	// testdata/fuzz/FuzzSelector holds the seeds; this one is the empty
	// program, which still selects, closes and checks ErrClosed.
	f.Add([]byte{})
	backends := fuzzBackends(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, backend := range backends {
			before := openFDs(t)
			m := newFzModel(t, backend)
			func() {
				defer m.release()
				m.run(data)
			}()
			if after := openFDs(t); after != before {
				t.Fatalf("%s: %d descriptors open after the program, %d before", backend, after, before)
			}
		}
	})
}
