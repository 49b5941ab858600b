//go:build darwin || ios || dragonfly || openbsd

package selectors

import "golang.org/x/sys/unix"

// kqueueEvents is what the kqueue backend can report here: these kernels
// have an except filter, EVFILT_EXCEPT, that reports urgent TCP data with
// NOTE_OOB (sys/event.h; OpenBSD since 2020, 6.8).
const kqueueEvents = EVENT_READ | EVENT_WRITE | EVENT_URGENT

// urgentFilter returns the filter of EVENT_URGENT: EVFILT_EXCEPT with
// NOTE_OOB, without which it reports nothing (OpenBSD, DragonFly) or what
// the read filter does (Darwin).
func urgentFilter() (filter, bool) {
	return filter{id: unix.EVFILT_EXCEPT, flags: exceptFlags, fflags: unix.NOTE_OOB, name: "except"}, true
}

// exceptEvents is what a kevent of the except filter says: EVENT_URGENT
// when it carries NOTE_OOB. Darwin's filter, the read filter's code, also
// reports plain data, a pending connection and an end of file, none of
// which is urgent; its end of file carries the socket's error in Fflags
// (filt_soread_common in bsd/kern/uipc_socket.c), and an error is every
// event. A kevent of another filter says nothing here.
func exceptEvents(e *unix.Kevent_t) Events {
	switch {
	case e.Filter != unix.EVFILT_EXCEPT:
		return 0
	case e.Flags&unix.EV_EOF != 0:
		if e.Fflags != 0 {
			return allEvents
		}
		return 0
	case e.Fflags&unix.NOTE_OOB != 0:
		return EVENT_URGENT
	}
	return 0
}
