package selectors

// pollBackendEvents is what the poll backend can report on macOS. Its poll(2) is
// made over kqueue in the kernel (poll_nocancel in bsd/kern/sys_generic.c)
// and sets POLLPRI for urgent data only on EV_OOBAND, which no filter has
// set since xnu-3789 (macOS 10.12): urgent TCP data is never reported, and
// a hang-up is reported as POLLPRI too. PollSelector refuses EVENT_URGENT
// there; the kqueue and select backends take it.
const pollBackendEvents = pollLikeEvents &^ EVENT_URGENT
