package selectors

import "golang.org/x/sys/unix"

// exceptFlags is 0: OpenBSD's except filter reports the urgent condition
// only (filt_soexcept in sys/kern/uipc_socket.c 1.385), so it is
// level-triggered as the other filters are.
const exceptFlags = 0

// guardPipes is true: OpenBSD wakes the write filter of a pipe whose
// reader closes before it marks the pipe closed, and never again
// (pipe_destroy in sys/kern/sys_pipe.c, 1.130 to 1.148): the write filter
// of a full pipe never reports it. The read filter on the writing end
// does: pipe_destroy wakes the writer's own list after it marked the
// reader closed, and filt_piperead then reports EV_EOF.
const guardPipes = true

// regularFileFflags makes a regular file's read filter report the file
// readable at its end too, as poll does (filt_ufsread in
// sys/ufs/ufs/ufs_vnops.c 1.164, for ufs and ext2fs; the read filters of
// tmpfs, cd9660 and fusefs do the same).
const regularFileFflags = unix.NOTE_EOF
