//go:build freebsd || netbsd

package selectors

import "golang.org/x/sys/unix"

// kqueueEvents is what the kqueue backend can report here. These kernels
// have no filter for urgent data: their socket filters take EVFILT_READ
// and EVFILT_WRITE (and FreeBSD's EVFILT_EMPTY) and never look at the
// urgent mark (sokqfilter_generic and filt_soread in FreeBSD's
// sys/kern/uipc_socket.c; soo_kqfilter in NetBSD's, whose sys/event.h has
// no EVFILT_EXCEPT). The selector refuses EVENT_URGENT with
// ErrInvalidEvents.
const kqueueEvents = EVENT_READ | EVENT_WRITE

// urgentFilter reports that there is no filter for EVENT_URGENT.
func urgentFilter() (filter, bool) { return filter{}, false }

// exceptEvents says nothing: no except filter is ever added here.
func exceptEvents(*unix.Kevent_t) Events { return 0 }
