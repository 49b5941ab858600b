//go:build solaris || illumos

package selectors

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	backends[byDevpoll] = backend{"devpoll", func() (Selector, error) { return asSelector(NewDevpollSelector()) }}
}

// DevpollSelector is a Selector over the /dev/poll driver of Solaris and
// illumos, level-triggered. The driver keeps the registered set, so its
// cost per Select follows the number of ready descriptors, not the number
// registered. Unlike epoll and kqueue, it keeps a descriptor closed while
// registered, and reports it ready (the driver's POLLNVAL, as every event
// registered) at every Select until it is unregistered. A DevpollSelector
// belongs to the process that created it: the driver refuses a child
// process with EACCES. EVENT_URGENT is POLLPRI.
type DevpollSelector struct {
	selector
}

// NewDevpollSelector returns a DevpollSelector, or the kernel's error
// wrapped (EMFILE when the process is out of descriptors).
func NewDevpollSelector() (*DevpollSelector, error) {
	w, err := newWaker()
	if err != nil {
		return nil, err
	}
	dp, err := newDevpoll(w)
	if err != nil {
		w.close()
		return nil, err
	}
	s := &DevpollSelector{}
	s.init("devpoll", dp, w, pollLikeEvents, time.Millisecond)
	return s, nil
}

// Fileno returns the /dev/poll descriptor, or -1 once the selector is
// closed. Like Python's fileno, it is for the caller to watch, never to
// close.
func (s *DevpollSelector) Fileno() int {
	if !s.core().isOpen() {
		return -1
	}
	return s.p.(*devpoll).fd
}

// From sys/devpoll.h and sys/poll.h, the same in illumos and Oracle
// Solaris; x/sys/unix has neither.
const (
	dpPoll     = 0xD0<<8 | 1 // DP_POLL: DPIOC | 1, where DPIOC is 0xD0 << 8
	pollRemove = 0x0800      // POLLREMOVE: an events value that drops the fd
)

// dvpoll is struct dvpoll of sys/devpoll.h, DP_POLL's argument:
//
//	pollfd_t *dp_fds; nfds_t dp_nfds; int dp_timeout;
//
// nfds_t is an unsigned long, so a uint. illumos appends a sigset pointer
// for DP_PPOLL, which its DP_POLL does not read.
type dvpoll struct {
	fds     *unix.PollFd
	nfds    uint
	timeout int32 // milliseconds, -1 for no limit
}

// dpPollIoctl makes ioctl(fd, DP_POLL, arg) and returns how many records
// the driver filled in.
//
// x/sys/unix exports no ioctl with a pointer argument and ioctl's result
// for Solaris and illumos, and its Syscall goes through libc's syscall(2),
// whose numbers are private to each system. IoctlSetStrioctlRetInt is
// libc's ioctl with a pointer argument, returning ioctl's result: what
// DP_POLL needs. The *Strioctl only carries the pointer, which x/sys turns
// back into ioctl's void * and never reads through; the assertion below
// keeps the pointed-to type at least as large. Unlike an integer given to
// IoctlSetIntRetInt, the argument stays a pointer the garbage collector
// sees until the call returns.
func dpPollIoctl(fd int, arg *dvpoll) (int, error) {
	return unix.IoctlSetStrioctlRetInt(fd, dpPoll, (*unix.Strioctl)(unsafe.Pointer(arg)))
}

var _ [unsafe.Sizeof(dvpoll{}) - unsafe.Sizeof(unix.Strioctl{})]byte

// devpoll is the poller of DevpollSelector.
type devpoll struct {
	fd    int
	waker fdWaker       // wakes a wait that a write must not meet
	fds   []unix.PollFd // filled by wait, read by ready
	nfds  int           // how many records the next wait asks for
	arg   dvpoll        // wait's ioctl argument, here so that a wait allocates nothing

	// Oracle Solaris's driver makes a write wait until no DP_POLL is in
	// progress (illumos's does not), and a signal then could fail it after
	// its records were copied in. So writes never meet our wait: a write
	// while it polls wakes it and waits for it to be out, and a wait does
	// not start during a write. Records are written at once, not queued
	// for the next wait as CPython does, so that Register reports errors.
	mu      sync.Mutex
	idle    sync.Cond // signalled when polling turns false
	polling bool
}

func newDevpoll(w fdWaker) (*devpoll, error) {
	fd, err := unix.Open("/dev/poll", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("selectors: open /dev/poll: %w", err)
	}
	p := &devpoll{fd: fd, waker: w}
	p.idle.L = &p.mu
	if err := p.add(w.readFD(), EVENT_READ, 0); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return p, nil
}

// write hands the driver pollfd records.
func (p *devpoll) write(op string, fd int, recs ...unix.PollFd) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.polling {
		if err := p.waker.wake(); err != nil {
			return err
		}
		for p.polling {
			p.idle.Wait()
		}
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&recs[0])), len(recs)*int(unsafe.Sizeof(recs[0])))
	for {
		_, err := unix.Write(p.fd, b)
		if err == unix.EINTR {
			// Only the driver's waits, for another writer or (Oracle
			// Solaris) a DP_POLL, end in EINTR, and mu rules both out;
			// illumos takes no record before such a wait.
			continue
		}
		if err != nil {
			return fmt.Errorf("selectors: /dev/poll %s fd %d: %w", op, fd, err)
		}
		return nil
	}
}

func removeRecord(fd int) unix.PollFd { return unix.PollFd{Fd: int32(fd), Events: pollRemove} }

// add refuses a number that is not open (EBADF), as epoll and kqueue do:
// the driver would take its record without a file, never report it, and
// keep its events past a POLLREMOVE, for a file that takes the number
// later to inherit (illumos dpwrite).
func (p *devpoll) add(fd int, events Events, _ uint32) error {
	if err := isOpen("add", fd); err != nil {
		return err
	}
	return p.write("add", fd, pollFD(fd, events))
}

// modify drops the fd before adding it again: the driver adds the events
// of a record to those it has for the fd, so that it would keep watching
// the old ones too. It refuses a number that is not open, as add does and
// for the same reason: the selector then drops the key, as epoll's and
// kqueue's refusals make it do.
func (p *devpoll) modify(fd int, _, events Events, _ uint32) error {
	if err := isOpen("modify", fd); err != nil {
		return err
	}
	return p.write("modify", fd, removeRecord(fd), pollFD(fd, events))
}

// isOpen returns EBADF, wrapped, unless fd is an open descriptor.
func isOpen(op string, fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return fmt.Errorf("selectors: /dev/poll %s fd %d: %w", op, fd, err)
	}
	return nil
}

// remove needs no care for a closed descriptor: the driver takes
// POLLREMOVE for any descriptor without error.
func (p *devpoll) remove(fd int, _ Events) error {
	return p.write("remove", fd, removeRecord(fd))
}

// reserve makes room for every registered descriptor and the waker. A wait
// asks for exactly that many records, never more: Oracle Solaris refuses
// with EINVAL a DP_POLL that asks for more than the process may open.
func (p *devpoll) reserve(registered int) {
	p.nfds = registered + 1
	if len(p.fds) < p.nfds {
		p.fds = make([]unix.PollFd, max(p.nfds, 2*len(p.fds)))
	}
}

func (p *devpoll) wait(timeout time.Duration) (int, error) {
	p.arg = dvpoll{fds: &p.fds[0], nfds: uint(p.nfds), timeout: int32(millis(timeout))}
	p.mu.Lock()
	p.polling = true
	p.mu.Unlock()

	n, err := dpPollIoctl(p.fd, &p.arg)

	p.mu.Lock()
	p.polling = false
	p.idle.Broadcast()
	p.mu.Unlock()
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("selectors: ioctl DP_POLL: %w", err)
	}
	return n, nil
}

func (p *devpoll) ready(dst []Ready, keys *keyTable, n int) ([]Ready, bool) {
	woken := false
	wfd := int32(p.waker.readFD())
	keys.beginPass()
	for i := range p.fds[:n] {
		pfd := &p.fds[i]
		if pfd.Fd == wfd {
			woken = true
			continue
		}
		// A record without a key is for a descriptor unregistered since
		// the wait began (another goroutine may): appendReady skips it.
		dst, _ = keys.appendReady(dst, int(pfd.Fd), fromPoll(revents(pfd)))
	}
	return dst, woken
}

func (p *devpoll) owns(fd int) bool { return fd == p.fd }

func (p *devpoll) close() error { return closeFD("/dev/poll", p.fd) }
