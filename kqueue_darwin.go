package selectors

import (
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// exceptFlags makes Darwin's except filter edge-triggered. It is the read
// filter's code (soexcept_filtops in bsd/kern/uipc_socket.c, xnu-11417:
// filt_soread), which with NOTE_OOB also fires for plain data, and only
// the NOTE_OOB it returns says urgent: level-triggered, a socket
// registered for EVENT_URGENT alone with plain data unread would make
// every wait return at once. EV_CLEAR also clears the returned NOTE_OOB
// at each report (knote_fill_kevent_with_sdata in bsd/kern/kern_event.c),
// which the filter otherwise keeps once set. The selector adds the
// filter anew after it reported urgent data (see exceptRearm), which
// keeps that report level-triggered.
const exceptFlags = unix.EV_CLEAR

// guardPipes is false: Darwin marks a closing pipe before it wakes the
// other end's filters (pipeclose in bsd/kern/sys_pipe.c), whose write
// filter then reports EV_EOF at every wait.
const guardPipes = false

// regularFileFflags is 0: Darwin has no flag for poll's behaviour on a
// regular file. EV_POLL, which filt_vnode_common takes for it, is one of
// the system flags that kevent strips from what the user passes.
const regularFileFflags = 0

// exceptRearm holds the descriptors whose except filter reported urgent
// data or an error, edge-triggered, and adds their filter again before the
// next wait, so that the condition is reported at every Select while it
// lasts, level-triggered as the other events are. The filter is deleted
// and added anew, not only added again: the filter ORs NOTE_OOB into the
// flags it returns whenever it finds urgent data, and only a report clears
// them, so a filter that found urgent data between two waits, before the
// reader read past the mark, would report NOTE_OOB with its next plain
// data; a new filter is evaluated afresh when it is added. That is done
// before the wait, once the caller has acted on the last report, not
// after the report.
//
// A filter that reported nothing of the registration's (plain data) is
// left to the socket's next change, which keeps it from waking every wait.
type exceptRearm struct {
	// mu guards fds between wait, which runs without the selector's
	// mutex, and modify and remove, which forget a descriptor before they
	// change its filters.
	mu  sync.Mutex
	fds []int
	n   atomic.Int32 // len(fds), read without mu
}

// note records the descriptor of e, if e is an except filter's report of
// urgent data or an error for a registration that watches EVENT_URGENT.
func (r *exceptRearm) note(e *unix.Kevent_t, keys *keyTable) {
	if exceptEvents(e) == 0 {
		return
	}
	fd := int(e.Ident)
	if k := keys.get(fd); k == nil || k.Events&EVENT_URGENT == 0 {
		return // Modify took EVENT_URGENT away during the wait
	}
	r.mu.Lock()
	r.fds = append(r.fds, fd)
	r.n.Store(int32(len(r.fds)))
	r.mu.Unlock()
}

// before adds anew, in the kqueue kq, the except filters that note
// recorded.
func (r *exceptRearm) before(kq int) {
	if r.n.Load() == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, _ := urgentFilter()
	for _, fd := range r.fds {
		// Failures leave the filter gone, as a close of the descriptor
		// while registered (EBADF) did.
		_ = keventChange(kq, fd, f.id, unix.EV_DELETE, 0)
		_ = keventChange(kq, fd, f.id, unix.EV_ADD|f.flags, f.fflags)
	}
	r.fds = r.fds[:0]
	r.n.Store(0)
}

// forget drops fd, whose filters are about to change.
func (r *exceptRearm) forget(fd int) {
	if r.n.Load() == 0 {
		return
	}
	r.mu.Lock()
	r.fds = slices.DeleteFunc(r.fds, func(x int) bool { return x == fd })
	r.n.Store(int32(len(r.fds)))
	r.mu.Unlock()
}
