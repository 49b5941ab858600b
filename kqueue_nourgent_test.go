//go:build freebsd || netbsd

package selectors

// FreeBSD's and NetBSD's kqueue has no filter for urgent data (see
// kqueueEvents).
func init() { noUrgent["kqueue"] = true }
