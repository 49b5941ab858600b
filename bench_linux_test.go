package selectors

// The raw epoll counterparts of the benchmarks in bench_unix_test.go.

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	rawLoops["epoll"] = newRawEpoll
	rawCtls["epoll"] = rawEpollCtl{}
}

// rawEpoll is the loop a user would write with x/sys alone: one epoll set
// and an event buffer with room for every descriptor.
type rawEpoll struct {
	epfd   int
	events []unix.EpollEvent
}

func newRawEpoll(fds []int, events Events) (rawLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: toPoll(events), Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(epfd)
			return nil, err
		}
	}
	return &rawEpoll{epfd: epfd, events: make([]unix.EpollEvent, len(fds)+1)}, nil
}

func (p *rawEpoll) wait(data []any) int {
	n, err := unix.EpollWait(p.epfd, p.events, -1)
	if err != nil {
		panic(err)
	}
	found := 0
	for _, e := range p.events[:n] {
		if data[e.Fd] != nil {
			found++
		}
	}
	return found
}

func (p *rawEpoll) close() { unix.Close(p.epfd) }

type rawEpollCtl struct{}

func (rawEpollCtl) addRemove(b *testing.B, fd int) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(epfd)
	b.ReportAllocs()
	for b.Loop() {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			b.Fatal(err)
		}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func (rawEpollCtl) modify(b *testing.B, fd int) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(epfd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		b.Fatal(err)
	}
	events := [2]uint32{unix.EPOLLIN | unix.EPOLLOUT, unix.EPOLLIN}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		ev.Events = events[i&1]
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkWakeupRawEpoll is BenchmarkWakeup/epoll with x/sys alone: an
// eventfd written, the epoll_wait it ends, and the read that drains it.
func BenchmarkWakeupRawEpoll(b *testing.B) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(epfd)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(efd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		b.Fatal(err)
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	var buf [8]byte
	events := make([]unix.EpollEvent, 8)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unix.Write(efd, one); err != nil {
			b.Fatal(err)
		}
		if n, err := unix.EpollWait(epfd, events, -1); err != nil || n != 1 {
			b.Fatal(n, err)
		}
		if _, err := unix.Read(efd, buf[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCloseOrder times a connection's life beside idle registered
// ones, as a server lives it: Register, then close and Unregister in
// either order. Closing first once made the next Register rebuild the
// whole kernel set, O(n) a cycle; both orders should cost the same.
func BenchmarkCloseOrder(b *testing.B) {
	for _, keys := range []int{1000, 5000} {
		for _, closeFirst := range []bool{false, true} {
			name := "unregister-then-close"
			if closeFirst {
				name = "close-then-unregister"
			}
			b.Run(fmt.Sprintf("keys=%d/%s", keys, name), func(b *testing.B) {
				s, err := NewEpollSelector()
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				for _, fd := range benchDescriptors(b, keys-1, 0) {
					if _, err := s.Register(fd, EVENT_READ, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.Register(fds[0], EVENT_READ, nil); err != nil {
						b.Fatal(err)
					}
					if closeFirst {
						unix.Close(fds[0])
					}
					if _, err := s.Unregister(fds[0]); err != nil {
						b.Fatal(err)
					}
					if !closeFirst {
						unix.Close(fds[0])
					}
					unix.Close(fds[1])
				}
			})
		}
	}
}
