package selectors

import "golang.org/x/sys/unix"

// platformSocketOptions are the keep-alive timings Go sets with
// keep-alive.
var platformSocketOptions = []socketOption{
	{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
	{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
	{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
}
