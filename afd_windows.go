package selectors

// The system calls of AFDSelector: readiness polling through the Winsock
// driver, AFD, the way wepoll, libuv, mio and Java's NIO do it on Windows.
//
// IOCTL_AFD_POLL is what WSAPoll and select are built on. Issued on a
// handle to \Device\Afd that is associated with an I/O completion port,
// it asks for one socket's events and completes, to that port, once any
// of them holds (at once if one does already). It is one-shot: a socket
// still ready must be polled again to be reported again. The interface is
// not documented by Microsoft but has been stable since Windows Vista.

import (
	"fmt"
	"math"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	ntdll    = windows.NewLazySystemDLL("ntdll.dll")
	kernel32 = windows.NewLazySystemDLL("kernel32.dll")
	// golang.org/x/sys/windows has none of these.
	procNtDeviceIoControlFile       = ntdll.NewProc("NtDeviceIoControlFile")
	procNtCancelIoFileEx            = ntdll.NewProc("NtCancelIoFileEx")
	procGetQueuedCompletionStatusEx = kernel32.NewProc("GetQueuedCompletionStatusEx")
)

// ioctlAFDPoll is IOCTL_AFD_POLL: FSCTL_AFD_BASE 0x12, function 9,
// METHOD_BUFFERED.
const ioctlAFDPoll = 0x00012024

// The events of an AFD poll.
const (
	afdPollReceive          = 0x0001 // data to read
	afdPollReceiveExpedited = 0x0002 // urgent (out-of-band) data to read
	afdPollSend             = 0x0004 // room to write
	afdPollDisconnect       = 0x0008 // the peer shut down its side: a read meets the end of stream
	afdPollAbort            = 0x0010 // the connection was reset or aborted
	afdPollLocalClose       = 0x0020 // the socket was closed, here
	afdPollAccept           = 0x0080 // a connection to accept
	afdPollConnectFail      = 0x0100 // a non-blocking connect failed
)

// afdPollHandleInfo is AFD_POLL_HANDLE_INFO: a socket and its events.
type afdPollHandleInfo struct {
	handle uintptr
	events uint32
	status windows.NTStatus
}

// afdPollInfo is AFD_POLL_INFO with room for one socket, which is all
// that a poll of ours asks about.
type afdPollInfo struct {
	timeout         int64
	numberOfHandles uint32
	exclusive       uint32
	handles         [1]afdPollHandleInfo
}

// afdPollInfoPad is what C adds after an afdPollInfo and Go does not on
// 386, where Go aligns its first field, a LARGE_INTEGER, to 4 bytes and C
// to 8: the kernel reads and writes afdPollInfoSize bytes.
const (
	afdPollInfoPad  = (8 - unsafe.Sizeof(afdPollInfo{})%8) % 8
	afdPollInfoSize = unsafe.Sizeof(afdPollInfo{}) + afdPollInfoPad
)

// afdPollInfoSize is AFD_POLL_INFO's C size, checked when compiling.
var (
	_ [32 - afdPollInfoSize]byte
	_ [afdPollInfoSize - 32]byte
)

// afdPollBuf is what the kernel writes when a poll completes: the poll's
// answer and its I/O status block. It must stay where it is, neither
// moved nor freed, from the poll's submission until its completion has
// been taken from the port, so it lives in the Go heap, which moves
// nothing, and whoever submits it keeps it reachable until then. It holds
// no Go pointers, since the kernel overwrites it behind the collector's
// back.
type afdPollBuf struct {
	info afdPollInfo
	_    [afdPollInfoPad]byte
	iosb windows.IO_STATUS_BLOCK
}

// afdDeviceName is the device path opened for polling. Opened without the
// extended attributes that make a socket, a name below \Device\Afd gives a
// handle that only talks to the driver; the last part of the name can be
// anything, but not nothing (wepoll uses \Device\Afd\Wepoll, mio
// \Device\Afd\Mio).
const afdDeviceName = `\Device\Afd\Selectors`

// openAFD opens a handle to the Winsock driver and associates it with
// port under key, so that its polls complete there.
func openAFD(port windows.Handle, key uintptr) (windows.Handle, error) {
	name, err := windows.NewNTUnicodeString(afdDeviceName)
	if err != nil {
		return windows.InvalidHandle, err
	}
	oa := windows.OBJECT_ATTRIBUTES{ObjectName: name}
	oa.Length = uint32(unsafe.Sizeof(oa))
	var h windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	// No OBJ_INHERIT: child processes do not inherit the handle.
	if err := windows.NtCreateFile(&h, windows.SYNCHRONIZE, &oa, &iosb, nil, 0,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, windows.FILE_OPEN, 0, 0, 0); err != nil {
		return windows.InvalidHandle, fmt.Errorf("selectors: open %s: %w", afdDeviceName, err)
	}
	if _, err := windows.CreateIoCompletionPort(h, port, key, 0); err != nil {
		windows.CloseHandle(h)
		return windows.InvalidHandle, fmt.Errorf("selectors: associate %s with a completion port: %w", afdDeviceName, err)
	}
	// Nothing waits on the handle itself: spare the kernel signalling it
	// at every completion.
	if err := windows.SetFileCompletionNotificationModes(h, windows.FILE_SKIP_SET_EVENT_ON_HANDLE); err != nil {
		windows.CloseHandle(h)
		return windows.InvalidHandle, fmt.Errorf("selectors: %s: SetFileCompletionNotificationModes: %w", afdDeviceName, err)
	}
	return h, nil
}

// submit starts a poll of socket for events on afd, to complete to afd's
// port with context as the entry's lpOverlapped. It returns nil once the
// poll is under way (or done already: its completion is queued either
// way), and the kernel's refusal otherwise, when nothing will complete.
func (b *afdPollBuf) submit(afd, socket windows.Handle, events uint32, context uintptr) error {
	b.info = afdPollInfo{
		timeout:         math.MaxInt64,
		numberOfHandles: 1,
		handles:         [1]afdPollHandleInfo{{handle: uintptr(socket), events: events}},
	}
	b.iosb = windows.IO_STATUS_BLOCK{Status: windows.STATUS_PENDING}
	size := afdPollInfoSize
	r, _, _ := syscall.SyscallN(procNtDeviceIoControlFile.Addr(),
		uintptr(afd), 0, 0, context, uintptr(unsafe.Pointer(&b.iosb)), ioctlAFDPoll,
		uintptr(unsafe.Pointer(&b.info)), size, uintptr(unsafe.Pointer(&b.info)), size)
	// NTSTATUS is 32 bits: the upper half of r is not its.
	switch status := windows.NTStatus(uint32(r)); status {
	case windows.STATUS_SUCCESS, windows.STATUS_PENDING:
		return nil
	default:
		return status
	}
}

// cancel asks the kernel to end b's poll on afd, if it is still under
// way. The poll then completes to the port, with STATUS_CANCELLED unless
// it completed first; until that completion is taken, b stays the
// kernel's.
func (b *afdPollBuf) cancel(afd windows.Handle) error {
	return cancelIO(afd, &b.iosb)
}

// cancelAll asks the kernel to end every poll under way on afd, as
// CancelIoEx does without an OVERLAPPED: in one call, where a cancel per
// poll costs Wine a walk of the process's I/O each.
func cancelAll(afd windows.Handle) error {
	return cancelIO(afd, nil)
}

func cancelIO(afd windows.Handle, iosb *windows.IO_STATUS_BLOCK) error {
	var status windows.IO_STATUS_BLOCK
	r, _, _ := syscall.SyscallN(procNtCancelIoFileEx.Addr(),
		uintptr(afd), uintptr(unsafe.Pointer(iosb)), uintptr(unsafe.Pointer(&status)))
	switch s := windows.NTStatus(uint32(r)); s {
	// STATUS_NOT_FOUND: nothing was under way, or it completed first.
	case windows.STATUS_SUCCESS, windows.STATUS_NOT_FOUND:
		return nil
	default:
		return s
	}
}

// The ioctls that ask for the socket below a layered service provider:
// SIO_BASE_HANDLE, _WSAIOR(IOC_WS2, 34), and the ones that wepoll, mio and
// trio try when a provider refuses it, SIO_BSP_HANDLE_POLL, _SELECT and
// SIO_BSP_HANDLE, _WSAIOR(IOC_WS2, 29), 28 and 27.
var baseHandleIoctls = [...]uint32{0x48000022, 0x4800001D, 0x4800001C, 0x4800001B}

// baseSocket returns the socket that AFD knows s by: s itself unless a
// layered service provider (an LSP, such as some antivirus and VPN
// software installs) wraps it, in which case AFD would refuse s. The
// error is SIO_BASE_HANDLE's if every ioctl fails.
func baseSocket(s windows.Handle) (windows.Handle, error) {
	var first error
	for _, ioctl := range baseHandleIoctls {
		var base windows.Handle
		var n uint32
		err := windows.WSAIoctl(s, ioctl, nil, 0,
			(*byte)(unsafe.Pointer(&base)), uint32(unsafe.Sizeof(base)), &n, nil, 0)
		if err == nil {
			return base, nil
		}
		if first == nil {
			first = err
		}
	}
	return windows.InvalidHandle, first
}

// completion is OVERLAPPED_ENTRY: one completion taken from a port. Its
// lpOverlapped is an integer here (the context of submit), never a
// pointer the garbage collector could follow.
type completion struct {
	key        uintptr
	overlapped uintptr
	internal   uintptr
	bytes      uint32
}

// getCompletions takes up to len(entries) completions from port, waiting
// up to ms milliseconds (windows.INFINITE: no limit) for the first, and
// returns how many it took: none when the time passed.
func getCompletions(port windows.Handle, entries []completion, ms uint32) (int, error) {
	var n uint32
	r, _, errno := syscall.SyscallN(procGetQueuedCompletionStatusEx.Addr(),
		uintptr(port), uintptr(unsafe.Pointer(&entries[0])), uintptr(len(entries)),
		uintptr(unsafe.Pointer(&n)), uintptr(ms), 0)
	if uint32(r) == 0 { // a BOOL
		if errno == windows.WAIT_TIMEOUT {
			return 0, nil
		}
		return 0, fmt.Errorf("selectors: GetQueuedCompletionStatusEx: %w", errno)
	}
	return int(n), nil
}
