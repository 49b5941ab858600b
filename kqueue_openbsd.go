package selectors

// exceptFlags is 0: OpenBSD's except filter reports the urgent condition
// only (filt_soexcept in sys/kern/uipc_socket.c 1.385), so it is
// level-triggered as the other filters are.
const exceptFlags = 0
