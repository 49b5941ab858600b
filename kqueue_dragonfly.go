package selectors

// exceptFlags is 0: DragonFly's except filter reports the urgent condition
// only (filt_soread with NOTE_OOB in sys/kern/uipc_socket.c), so it is
// level-triggered as the other filters are.
const exceptFlags = 0

// guardPipes is false: DragonFly marks a closing pipe's peer before it
// wakes its filters (pipeclose in sys/kern/sys_pipe.c).
const guardPipes = false

// regularFileFflags is 0: DragonFly's NOTE_OLDAPI, which makes a regular
// file always readable for poll, is the kernel's own (sys/event.h).
const regularFileFflags = 0
