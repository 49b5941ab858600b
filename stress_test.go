//go:build unix

package selectors

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStress runs, on every backend, workers that register, modify and
// unregister a shared pool of socket pairs, a goroutine that writes to and
// drains the peers, Wakeup storms and one goroutine looping in Select, and
// closes the selector halfway. Every result must be one the contract
// allows; after Close every call returns ErrClosed; nothing panics or
// hangs, and no goroutine or descriptor is left.
func TestStress(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) { stress(t, name) })
	}
}

const (
	stressPairs    = 32
	stressWorkers  = 4
	stressWakers   = 2
	stressDuration = 2 * time.Second // before and after Close together
	stressMaxOps   = 200_000         // per worker, should the machine be fast
	stressWatchdog = 20 * time.Second
)

func stress(t *testing.T, backend string) {
	before := openFDs(t)
	s, err := New(backend)
	if err != nil {
		t.Fatal(err)
	}
	// The pool: registered ends, and their peers, which the toggler writes
	// to (making the ends readable) and drains (making them writable).
	ends := make([]int, stressPairs)
	peers := make([]int, stressPairs)
	for i := range ends {
		ends[i], peers[i] = socketPair(t)
	}

	var (
		wg         sync.WaitGroup
		stop       = make(chan struct{}) // the time is up
		closedDone atomic.Bool           // Close has returned
		ops        atomic.Int64          // Register, Modify, Unregister, GetKey, GetMap
		selects    atomic.Int64
		readies    atomic.Int64
		wakeups    atomic.Int64
	)
	// afterClose checks a call that began once Close had returned.
	afterClose := func(began bool, what string, err error) bool {
		if began && !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
			return false
		}
		return true
	}

	// The Select loop.
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]Ready, 0, 2*stressPairs)
		for {
			began := closedDone.Load()
			out, err := s.SelectInto(buf[:0], 5*time.Millisecond)
			if errors.Is(err, ErrClosed) {
				return
			}
			if !afterClose(began, "Select", err) {
				return
			}
			if err != nil {
				t.Errorf("Select: %v", err)
				return
			}
			selects.Add(1)
			readies.Add(int64(len(out)))
			seen := map[int]bool{}
			for _, r := range out {
				if seen[r.Key.FD] {
					t.Errorf("Select: two Ready for fd %d: %v", r.Key.FD, out)
					return
				}
				seen[r.Key.FD] = true
				if r.Mask == 0 || r.Mask&^r.Key.Events != 0 || r.Key.Events&^(EVENT_READ|EVENT_WRITE) != 0 {
					t.Errorf("Select: mask %v, events %v of fd %d", r.Mask, r.Key.Events, r.Key.FD)
					return
				}
				if _, ok := r.Key.Data.(int); !ok || r.Key.FileObj != any(r.Key.FD) {
					t.Errorf("Select: key %+v was not made by a worker", r.Key)
					return
				}
			}
		}
	}()

	// The workers: each call on a shared end may meet another worker's
	// registration, so ErrAlreadyRegistered and ErrNotRegistered are fine;
	// nothing else is, but ErrClosed once the selector is closing.
	for w := range stressWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < stressMaxOps; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fd := ends[rng.IntN(len(ends))]
				ev := Events(rng.IntN(3) + 1)
				began := closedDone.Load()
				var key SelectorKey
				var err error
				what := ""
				switch op := rng.IntN(10); {
				case op < 4:
					what = "Register"
					key, err = s.Register(fd, ev, i)
					if err == nil && key != (SelectorKey{FileObj: fd, FD: fd, Events: ev, Data: i}) {
						t.Errorf("Register(%d, %v, %d) = %+v", fd, ev, i, key)
						return
					}
				case op < 6:
					what = "Modify"
					key, err = s.Modify(fd, ev, i)
					if err == nil && (key.FD != fd || key.Events != ev || key.Data != any(i)) {
						t.Errorf("Modify(%d, %v, %d) = %+v", fd, ev, i, key)
						return
					}
				case op < 9:
					what = "Unregister"
					key, err = s.Unregister(fd)
					if err == nil && key.FD != fd {
						t.Errorf("Unregister(%d) = %+v", fd, key)
						return
					}
				default:
					what = "GetKey"
					key, err = s.GetKey(fd)
					if err == nil && key.FD != fd {
						t.Errorf("GetKey(%d) = %+v", fd, key)
						return
					}
					if m := s.GetMap(); began && m != nil {
						t.Errorf("GetMap after Close: %d keys, want nil", len(m))
						return
					}
				}
				ops.Add(1)
				if !afterClose(began, what, err) {
					return
				}
				if err != nil && !errors.Is(err, ErrAlreadyRegistered) && !errors.Is(err, ErrNotRegistered) && !errors.Is(err, ErrClosed) {
					t.Errorf("%s(%d, %v): %v", what, fd, ev, err)
					return
				}
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}

	// The Wakeup storms.
	for range stressWakers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < stressMaxOps; i++ {
				select {
				case <-stop:
					return
				default:
				}
				began := closedDone.Load()
				err := s.Wakeup()
				wakeups.Add(1)
				if !afterClose(began, "Wakeup", err) {
					return
				}
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("Wakeup: %v", err)
					return
				}
				if i%16 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}

	// The toggler: readiness comes and goes under the Select loop.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 1))
		buf := make([]byte, 4096)
		for i := 0; i < stressMaxOps; i++ {
			select {
			case <-stop:
				return
			default:
			}
			j := rng.IntN(len(ends))
			if rng.IntN(2) == 0 {
				_, err := unix.Write(peers[j], buf[:rng.IntN(len(buf))+1])
				if err != nil && err != unix.EAGAIN {
					t.Errorf("write peer: %v", err)
					return
				}
			} else {
				for range 64 {
					n, err := unix.Read(ends[j], buf)
					if n <= 0 || err != nil {
						break
					}
				}
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()

	// Close halfway, then let everyone meet the closed selector for the
	// other half.
	done := make(chan struct{})
	var opsAtClose, wakeupsAtClose int64
	go func() {
		time.Sleep(stressDuration / 2)
		opsAtClose, wakeupsAtClose = ops.Load(), wakeups.Load()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		closedDone.Store(true)
		time.Sleep(stressDuration / 2)
		close(stop)
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stressWatchdog):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%s: not done after %v: a deadlock? goroutines:\n%s", backend, stressWatchdog, buf[:n])
	}
	t.Logf("%s: before Close %d operations, %d Wakeups, %d Selects reporting %d Ready; %d operations and %d Wakeups in all",
		backend, opsAtClose, wakeupsAtClose, selects.Load(), readies.Load(), ops.Load(), wakeups.Load())

	// After Close, every method refuses; a second Close is nil.
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for what, err := range map[string]error{
		"Register":   second(s.Register(ends[0], EVENT_READ, nil)),
		"Modify":     second(s.Modify(ends[0], EVENT_READ, nil)),
		"Unregister": second(s.Unregister(ends[0])),
		"GetKey":     second(s.GetKey(ends[0])),
		"Select":     second(s.Select(0)),
		"SelectInto": second(s.SelectInto(nil, -1)),
		"Wakeup":     s.Wakeup(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	if m := s.GetMap(); m != nil {
		t.Errorf("GetMap after Close: %v", m)
	}
	if ops.Load() == 0 || selects.Load() == 0 {
		t.Errorf("%s: nothing ran: %d operations, %d Selects", backend, ops.Load(), selects.Load())
	}

	for i := range ends {
		closeEnd(t, ends[i])
		closeEnd(t, peers[i])
	}
	if after := openFDs(t); after != before {
		t.Errorf("%s: %d descriptors open, %d before", backend, after, before)
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }
