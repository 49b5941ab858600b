package selectors

// The Windows benchmark of issue 23: a round trip of one byte on one
// active socket beside idle ones, through afd, select and a raw WSAPoll
// loop, in one run, on the same sockets:
//
//	GOOS=windows go test -exec wine -run '^$' -bench RoundTripBesideIdle -count 5 . > new.txt
//	benchstat -col /loop new.txt

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// procWSAPoll is WSAPoll, which golang.org/x/sys/windows lacks.
var procWSAPoll = ws2_32.NewProc("WSAPoll")

// wsaPollFD is WSAPOLLFD.
type wsaPollFD struct {
	fd      uintptr
	events  int16
	revents int16
}

const pollRDNorm = 0x0100 // POLLRDNORM: what POLLIN is in Winsock

// rawWSAPoll is the loop a user would write with WSAPoll: one array of
// every socket, handed to Winsock at every wait, and a lookup of the data
// of each socket ready.
type rawWSAPoll struct{ fds []wsaPollFD }

func (p *rawWSAPoll) wait(b *testing.B, data map[int]any) int {
	r, _, errno := procWSAPoll.Call(uintptr(unsafe.Pointer(&p.fds[0])), uintptr(len(p.fds)), ^uintptr(0))
	if int32(r) < 0 {
		b.Fatalf("WSAPoll: %v", errno)
	}
	found := 0
	for i := 0; i < len(p.fds) && found < int(int32(r)); i++ {
		if p.fds[i].revents != 0 {
			found++
			_ = data[int(p.fds[i].fd)]
		}
	}
	return found
}

// BenchmarkRoundTripBesideIdle: the time of a round trip (a byte sent on
// one end of a connection, the wait that reports the other end readable,
// the read of the byte) with that end watched beside idle sockets, which
// no one writes to.
//
// The idle sockets are made once per size and shared by the loops, which
// run WSAPoll, select, then afd: under Wine, each socket event walks
// every AFD poll under way, so the AFD selector, whose idle sockets each
// have one, is opened only for its own run and closed after it. (b.Loop
// runs each loop's function once: its setup is not timed.)
func BenchmarkRoundTripBesideIdle(b *testing.B) {
	require.NoError(b, wsaStartup())
	for _, idle := range []int{10, 100, 1_000, 5_000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			ends := connectedPairs(b, idle/2)
			require.Len(b, ends, idle)
			a, c := socketPair(b) // a is watched, c sends to it
			watched := append(ends, a)
			data := make(map[int]any, len(watched))
			for _, fd := range watched {
				data[fd] = fd
			}
			ping := func(b *testing.B) {
				if n, err := send(c, []byte{1}); n != 1 || err != nil {
					b.Fatalf("send: %d, %v", n, err)
				}
			}
			take := func(b *testing.B) {
				if got := readEnd(b, a, 1); len(got) != 1 {
					b.Fatalf("read %d bytes", len(got))
				}
			}

			b.Run("loop=wsapoll", func(b *testing.B) {
				p := &rawWSAPoll{}
				for _, fd := range watched {
					p.fds = append(p.fds, wsaPollFD{fd: uintptr(fd), events: pollRDNorm})
				}
				for b.Loop() {
					ping(b)
					if n := p.wait(b, data); n != 1 {
						b.Fatalf("WSAPoll found %d sockets ready", n)
					}
					take(b)
				}
			})
			for _, backend := range []string{"select", "afd"} {
				b.Run("loop="+backend, func(b *testing.B) {
					s := newBenchSelector(b, backend, watched)
					defer s.Close()
					dst := make([]Ready, 0, 1)
					for b.Loop() {
						ping(b)
						rs, err := s.SelectInto(dst[:0], -1)
						if err != nil || len(rs) != 1 || rs[0].Key.FD != a {
							b.Fatalf("Select: %v, %v", rs, err)
						}
						take(b)
					}
				})
			}
		})
	}
}

// newBenchSelector returns a selector of backend with every socket of
// fds registered for EVENT_READ.
func newBenchSelector(b *testing.B, backend string, fds []int) Selector {
	b.Helper()
	s, err := New(backend)
	require.NoError(b, err)
	for _, fd := range fds {
		_, err := s.Register(fd, EVENT_READ, fd)
		require.NoError(b, err)
	}
	return s
}
