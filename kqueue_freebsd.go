package selectors

import "golang.org/x/sys/unix"

// guardPipes is true: FreeBSD wakes the reader's list, which holds the
// writer's write filter, before it marks the reader closed, then clears
// that list (pipeclose in sys/kern/sys_pipe.c): the write filter of a
// full pipe is dropped without a report. The read filter on the writing
// end sits on the writer's own list, which pipeclose wakes after it
// marked the reader closed: filt_piperead then reports EV_EOF.
const guardPipes = true

// regularFileFflags makes a regular file's read filter report the file
// always readable, as poll does (filt_vfsread in sys/kern/vfs_subr.c).
const regularFileFflags = unix.NOTE_FILE_POLL
