package selectors

// The raw epoll counterparts of the benchmarks in bench_unix_test.go.

import (
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
		ev := unix.EpollEvent{Events: toEpoll(events), Fd: int32(fd)}
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
