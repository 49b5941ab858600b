package selectors

import (
	"fmt"
	"reflect"
	"slices"
	"syscall"
	"unsafe"
)

// SelectorKey associates a registered file object with its file descriptor,
// the events watched on it and the caller's data. It is a value: Modify
// returns a new key and never changes one already handed out.
type SelectorKey struct {
	FileObj any    // exactly what was passed to Register
	FD      int    // its file descriptor (a SOCKET handle on Windows)
	Events  Events // the events watched
	Data    any    // the caller's data, never looked at
}

// Ready is one file object that Select found ready.
type Ready struct {
	Key  SelectorKey
	Mask Events // the ready events: never zero, always a subset of Key.Events
}

// fder is a file object that tells its descriptor through Fd, as *os.File
// does. It comes after syscall.Conn because (*os.File).Fd puts the file in
// blocking mode.
type fder interface {
	Fd() uintptr
}

// fileDescriptor returns the descriptor of fileobj: an integer of any Go
// integer type, a syscall.Conn, or an fder, in that order of precedence.
func fileDescriptor(fileobj any) (fd int, err error) {
	// A nil *net.TCPConn or a user type can panic in SyscallConn or Fd;
	// bad input is an error here, never a panic.
	defer func() {
		if p := recover(); p != nil {
			fd, err = -1, fmt.Errorf("%w: %T: %v", ErrInvalidFileObj, fileobj, p)
		}
	}()
	switch v := fileobj.(type) {
	case int:
		return checkFD(int64(v), fileobj)
	case int32:
		return checkFD(int64(v), fileobj)
	case int64:
		return checkFD(v, fileobj)
	case uintptr:
		return checkUnsignedFD(uint64(v), fileobj)
	case uint:
		return checkUnsignedFD(uint64(v), fileobj)
	case syscall.Conn:
		if isInteger(fileobj) {
			break // a named integer type that also has SyscallConn is an integer first
		}
		return connDescriptor(v)
	case fder:
		if isInteger(fileobj) {
			break
		}
		// int, not uintptr: an Fd of ^uintptr(0), a closed file's, is -1.
		return checkFD(int64(int(v.Fd())), fileobj)
	case nil:
		return -1, fmt.Errorf("%w: nil", ErrInvalidFileObj)
	}
	// The other integer types, named ones included.
	rv := reflect.ValueOf(fileobj)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return checkFD(rv.Int(), fileobj)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return checkUnsignedFD(rv.Uint(), fileobj)
	}
	return -1, fmt.Errorf("%w: %T has no file descriptor", ErrInvalidFileObj, fileobj)
}

func isInteger(v any) bool {
	k := reflect.ValueOf(v).Kind()
	return k >= reflect.Int && k <= reflect.Uintptr
}

func checkFD(fd int64, fileobj any) (int, error) {
	if fd < 0 || fd > maxFD {
		return -1, fmt.Errorf("%w: descriptor %v of %T is out of range", ErrInvalidFileObj, fd, fileobj)
	}
	return int(fd), nil
}

func checkUnsignedFD(fd uint64, fileobj any) (int, error) {
	if fd > maxFD {
		return -1, fmt.Errorf("%w: descriptor %v of %T is out of range", ErrInvalidFileObj, fd, fileobj)
	}
	return int(fd), nil
}

// connDescriptor reads the descriptor of c through RawConn.Control, which
// leaves its blocking mode alone and fails once c is closed.
func connDescriptor(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%w: %T: %w", ErrInvalidFileObj, c, err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return -1, fmt.Errorf("%w: %T: %w", ErrInvalidFileObj, c, err)
	}
	return checkFD(int64(fd), c)
}

// denseFDs bounds the descriptors that keyTable indexes with a slice; larger
// ones, such as Windows SOCKET handles, go to a map.
const denseFDs = 1 << 20

// keyTable holds the registered keys, found by descriptor in O(1) on the
// per-event path of Select without a map for ordinary descriptors.
//
// That path reads the table's header, dense[fd] and the key's slot, which
// a busy loop's caches have often lost since the last Select (the kernel's
// own work in between evicts them), so the header is kept to 64 bytes on
// 64-bit platforms and the slots do not share cache lines.
type keyTable struct {
	dense   []int32       // fd → 1 + index in slots; 0 when fd is not registered
	slots   []keySlot     // in no particular order
	pass    uint32        // the current pass of appendReady
	lastTag uint32        // the tag of the last registration
	far     map[int]int32 // as dense, for fd >= denseFDs
}

// keySlot is a key with its registration's tag and its readyMark, padded
// to a multiple of 64 bytes, the cache line of the CPUs Go runs on, so
// that no two slots share a line: the 60 bytes used on 64-bit platforms
// take one line when the slice starts on one, two at most otherwise.
type keySlot struct {
	key  SelectorKey
	tag  uint32    // unique to the registration (see newTag)
	mark readyMark // where the current pass of appendReady put key's Ready
	_    [(64 - (unsafe.Sizeof(SelectorKey{})+4+unsafe.Sizeof(readyMark{}))%64) % 64]byte
}

// readyMark is where a pass of appendReady put a key's Ready in the result,
// so that a second kernel event for its descriptor merges into it.
type readyMark struct {
	pass uint32
	at   int32
}

// get returns the key registered for fd, or nil. The pointer is valid until
// the table next changes.
func (t *keyTable) get(fd int) *SelectorKey {
	k, _ := t.getTagged(fd)
	return k
}

// len returns the number of keys.
func (t *keyTable) len() int { return len(t.slots) }

// at returns the i-th key, for 0 <= i < len(). The pointer is valid until
// the table next changes.
func (t *keyTable) at(i int) *SelectorKey { return &t.slots[i].key }

// slot returns 1 + the index in slots of fd's key, or 0 when fd is not
// registered.
func (t *keyTable) slot(fd int) int32 {
	if uint(fd) < uint(len(t.dense)) {
		return t.dense[fd]
	}
	if fd >= denseFDs {
		return t.far[fd]
	}
	return 0
}

// put adds key, registered with tag, for key.FD, which has no key.
func (t *keyTable) put(key SelectorKey, tag uint32) {
	t.slots = append(t.slots, keySlot{key: key, tag: tag})
	t.setIndex(key.FD, int32(len(t.slots)))
}

// newTag returns a tag for a new registration. A poller that can carry a
// word of its own in the kernel's events (epoll) keeps it there, to tell
// the events of a registration from those of an earlier one under the same
// number that the kernel still holds. It wraps after 2^32 registrations.
func (t *keyTable) newTag() uint32 {
	t.lastTag++
	return t.lastTag
}

// tag returns the tag of fd's registration, or 0 if it has none.
func (t *keyTable) tag(fd int) uint32 {
	if i := t.slot(fd); i != 0 {
		return t.slots[i-1].tag
	}
	return 0
}

// getTagged returns the key registered for fd and its tag, or nil.
func (t *keyTable) getTagged(fd int) (*SelectorKey, uint32) {
	if i := t.slot(fd); i != 0 {
		s := &t.slots[i-1]
		return &s.key, s.tag
	}
	return nil, 0
}

// beginPass starts turning one wait's kernel events into Ready with
// appendReady.
func (t *keyTable) beginPass() {
	t.pass++
	if t.pass == 0 { // wrapped: no old mark may look current
		for i := range t.slots {
			t.slots[i].mark = readyMark{}
		}
		t.pass = 1
	}
}

// appendReady appends to dst the Ready of the key registered for fd, with
// mask m limited to the key's events, or merges m into the Ready that this
// pass appended for fd already: one Ready per descriptor, whatever the
// kernel reports (kqueue has a filter per event, Winsock a set per event).
// It reports whether fd is registered.
func (t *keyTable) appendReady(dst []Ready, fd int, m Events) (out []Ready, found bool) {
	i := t.slot(fd)
	if i == 0 {
		return dst, false
	}
	slot := &t.slots[i-1]
	k, mark := &slot.key, &slot.mark
	if m &= k.Events; m == 0 {
		return dst, true
	}
	if mark.pass == t.pass && int(mark.at) < len(dst) && dst[mark.at].Key.FD == fd {
		dst[mark.at].Mask |= m
		return dst, true
	}
	mark.pass, mark.at = t.pass, int32(len(dst))
	return appendKey(dst, k, m), true
}

// appendKey appends to dst the Ready of k with mask m, written in place:
// append(dst, Ready{...}) builds the Ready on the stack and copies it twice.
func appendKey(dst []Ready, k *SelectorKey, m Events) []Ready {
	dst = slices.Grow(dst, 1)[:len(dst)+1]
	r := &dst[len(dst)-1]
	r.Key, r.Mask = *k, m
	return dst
}

func (t *keyTable) setIndex(fd int, i int32) {
	if fd >= denseFDs {
		if t.far == nil {
			t.far = make(map[int]int32)
		}
		if i == 0 {
			delete(t.far, fd)
		} else {
			t.far[fd] = i
		}
		return
	}
	if fd >= len(t.dense) {
		if i == 0 {
			return
		}
		t.dense = append(t.dense, make([]int32, fd+1-len(t.dense))...)
	}
	t.dense[fd] = i
}

// remove deletes the key registered for fd and returns it.
func (t *keyTable) remove(fd int) (SelectorKey, bool) {
	i := t.slot(fd)
	if i == 0 {
		return SelectorKey{}, false
	}
	key := t.slots[i-1].key
	last := int32(len(t.slots))
	if i != last {
		// The last slot, mark and all, fills the hole.
		t.slots[i-1] = t.slots[last-1]
		t.setIndex(t.slots[i-1].key.FD, i)
	}
	t.slots[last-1] = keySlot{} // let the collector have FileObj and Data
	t.slots = t.slots[:last-1]
	t.setIndex(fd, 0)
	return key, true
}

// byObject finds the key registered through fileobj itself, compared with
// ==, for objects whose descriptor can no longer be read.
func (t *keyTable) byObject(fileobj any) *SelectorKey {
	if fileobj == nil || !reflect.TypeOf(fileobj).Comparable() {
		return nil
	}
	for i := range t.slots {
		if k := &t.slots[i].key; sameObject(k.FileObj, fileobj) {
			return k
		}
	}
	return nil
}

// sameObject reports a == b, and false where == would panic: a comparable
// struct type can still hold an uncomparable value in an interface field.
func sameObject(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// find returns the key of fileobj: by its descriptor, or by identity when
// the descriptor cannot be read (a closed file), as Python's
// _fileobj_lookup does.
func (t *keyTable) find(fileobj any, fd int, fdErr error) (*SelectorKey, error) {
	if fdErr != nil {
		if k := t.byObject(fileobj); k != nil {
			return k, nil
		}
		return nil, fdErr
	}
	if k := t.get(fd); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: fd %d", ErrNotRegistered, fd)
}

// snapshot returns a new map of the keys by descriptor.
func (t *keyTable) snapshot() map[int]SelectorKey {
	m := make(map[int]SelectorKey, len(t.slots))
	for i := range t.slots {
		k := &t.slots[i].key
		m[k.FD] = *k
	}
	return m
}
