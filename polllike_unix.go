//go:build unix

package selectors

import (
	"time"

	"golang.org/x/sys/unix"
)

// What the poll-like backends share, as CPython's _PollLikeSelector holds
// it for poll, epoll and /dev/poll: events as poll(2)'s bits, and timeouts
// in milliseconds. epoll's EPOLLIN, EPOLLPRI and EPOLLOUT have poll's
// values.

// pollLikeEvents is what poll, epoll and /dev/poll report for the events
// that a file object can be registered for.
const pollLikeEvents = EVENT_READ | EVENT_WRITE | EVENT_URGENT

// toPoll returns the poll(2) bits that watch for events.
func toPoll(events Events) uint32 {
	var bits uint32
	if events&EVENT_READ != 0 {
		bits |= unix.POLLIN
	}
	if events&EVENT_WRITE != 0 {
		bits |= unix.POLLOUT
	}
	if events&EVENT_URGENT != 0 {
		bits |= unix.POLLPRI
	}
	return bits
}

// fromPoll turns the bits that poll, epoll or /dev/poll reported into
// Events. Anything beyond input, output and priority (an error, a
// hang-up, an invalid descriptor) is every event, masked by the caller to
// those registered, so that the caller's next operation meets the
// condition, as Python reports an error both readable and writable.
func fromPoll(revents uint32) Events {
	if revents&^(unix.POLLIN|unix.POLLOUT|unix.POLLPRI) != 0 {
		return allEvents
	}
	var m Events
	if revents&unix.POLLIN != 0 {
		m |= EVENT_READ
	}
	if revents&unix.POLLOUT != 0 {
		m |= EVENT_WRITE
	}
	if revents&unix.POLLPRI != 0 {
		m |= EVENT_URGENT
	}
	return m
}

// pollFD returns the pollfd record that watches fd for events.
func pollFD(fd int, events Events) unix.PollFd {
	pfd := unix.PollFd{Fd: int32(fd)}
	setBits(&pfd.Events, toPoll(events))
	return pfd
}

// appendPollFDs appends to buf the pollfd records of the waker wfd and of
// the keys: what poll(2) takes to watch them all.
func appendPollFDs(buf []unix.PollFd, wfd int, keys *keyTable) []unix.PollFd {
	buf = append(buf, pollFD(wfd, EVENT_READ))
	for i := range keys.len() {
		k := keys.at(i)
		buf = append(buf, pollFD(k.FD, k.Events))
	}
	return buf
}

// setBits stores poll bits in a pollfd's events, whose type differs
// between platforms (int16, uint16 on AIX).
func setBits[T int16 | uint16](dst *T, bits uint32) { *dst = T(bits) }

// revents returns the bits a pollfd record reports, as fromPoll takes them.
func revents(pfd *unix.PollFd) uint32 { return uint32(uint16(pfd.Revents)) }

// millis converts a wait to whole milliseconds, rounded up so that a wait
// never ends early: -1 for no limit.
func millis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}
