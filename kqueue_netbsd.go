package selectors

// guardPipes is true: NetBSD wakes the write filter of a pipe whose reader
// closes before it marks the pipe closed, and never again (pipeclose in
// sys/kern/sys_pipe.c 1.160; pipe_close in 1.165). With 1.160 the read
// filter on the writing end reports the close; 1.165 refuses that filter
// (EINVAL), and the selector goes without it; 1.182 marks the pipe first
// and needs none.
const guardPipes = true

// regularFileFflags is 0: NetBSD has no flag for poll's behaviour on a
// regular file (filt_genfsread in sys/miscfs/genfs/genfs_vnops.c).
const regularFileFflags = 0
