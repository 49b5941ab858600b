package main

import (
	"errors"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// socket is a connection's SOCKET handle, owned by the loop: only close
// closes it.
type socket = windows.Handle

// fionbio is Winsock's FIONBIO, _IOW('f', 126, u_long).
const fionbio = 0x8004667e

// accept of ws2_32: golang.org/x/sys/windows has only AcceptEx, which
// needs a socket made in advance and an overlapped completion.
var procAccept = windows.NewLazySystemDLL("ws2_32.dll").NewProc("accept")

// prepareListener puts ln in non-blocking mode, which the sockets it
// accepts inherit: Go's sockets on Windows block, and rely on overlapped
// I/O that this loop does not use.
func prepareListener(ln *net.TCPListener) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(s uintptr) { serr = setNonblock(windows.Handle(s)) }); err != nil {
		return err
	}
	return serr
}

func setNonblock(s windows.Handle) error {
	on := uint32(1)
	var n uint32
	return windows.WSAIoctl(s, fionbio, (*byte)(unsafe.Pointer(&on)), uint32(unsafe.Sizeof(on)), nil, 0, &n, nil, 0)
}

// accept takes one connection from ln without waiting, and returns its
// non-blocking socket and the peer's address. No connection waiting is an
// error for which wouldBlock is true.
func accept(ln *net.TCPListener) (socket, string, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return windows.InvalidHandle, "", err
	}
	s := windows.InvalidHandle
	var aerr error
	err = rc.Control(func(ls uintptr) {
		r, _, e := procAccept.Call(ls, 0, 0)
		if s = windows.Handle(r); s == windows.InvalidHandle {
			aerr = e
		}
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return windows.InvalidHandle, "", err
	}
	// Winsock's accepted sockets are inherited by child processes unless
	// told otherwise; Go's net package makes none that are.
	windows.CloseOnExec(s)
	if err := setNonblock(s); err != nil {
		windows.Closesocket(s)
		return windows.InvalidHandle, "", err
	}
	// No Nagle delay on small replies, as Go's net package does for every
	// TCP connection it makes.
	if err := windows.SetsockoptInt(s, windows.IPPROTO_TCP, windows.TCP_NODELAY, 1); err != nil {
		windows.Closesocket(s)
		return windows.InvalidHandle, "", err
	}
	peer := "?"
	if sa, err := windows.Getpeername(s); err == nil {
		peer = sockaddrString(sa)
	}
	return s, peer, nil
}

// recv reads what has arrived on s without waiting, as read(2) does: n > 0
// bytes, or 0 and no error at the end of the stream, or an error.
func recv(s socket, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf := windows.WSABuf{Len: uint32(len(p)), Buf: &p[0]}
	var n, flags uint32
	if err := windows.WSARecv(s, &buf, 1, &n, &flags, nil, nil); err != nil {
		return -1, err
	}
	return int(n), nil
}

// send writes as much of p to s as fits now, as write(2) does: the count,
// or an error.
func send(s socket, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf := windows.WSABuf{Len: uint32(len(p)), Buf: &p[0]}
	var n uint32
	if err := windows.WSASend(s, &buf, 1, &n, 0, nil, nil); err != nil {
		return -1, err
	}
	return int(n), nil
}

func closeSocket(s socket) {
	_ = windows.Closesocket(s)
}

// wouldBlock reports the error of a call that found nothing to do.
func wouldBlock(err error) bool {
	return errors.Is(err, windows.WSAEWOULDBLOCK)
}

// connAborted reports a connection reset before it was accepted.
func connAborted(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET)
}

func sockaddrString(sa windows.Sockaddr) string {
	switch sa := sa.(type) {
	case *windows.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *windows.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return "?"
}
