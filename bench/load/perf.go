package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The tick-sampled utime and stime are too coarse to split a few seconds
// of CPU time into user and system, so with -perf the load samples the
// server's CPU with perf, in the measured window only: a software
// cpu-clock event (hardware counters need not exist) on that CPU, which
// fires every 1/freq s whatever runs there, and records the process and
// the instruction pointer it interrupted. The server is pinned to the
// CPU; the samples of its process in user mode, each standing for 1/freq
// s (the period perf records with it), add up to its user time. The
// system time is the rest of its on-CPU time from schedstat.
//
// A CPU's event, not the server's own (perf record -p): that one is
// switched off and on at every context switch, restarting its timer
// with the time left, and on a virtual machine this costs several µs of
// system time per round trip (a timer armed, a VM exit) and puts far
// more samples in user mode than there is user time (1.9 µs per round
// trip for a C echo server that does next to nothing in user mode, where
// the CPU's event and the ticks agree on 0.4–0.5). The CPU's timer runs
// on its own grid as the scheduler tick does, only 16 times as often.
//
// Not the share of the server's samples in user mode times its on-CPU
// time either: a timer that expires while the server is switching out,
// interrupts off, is taken after the switch, so some 10% of the server's
// time, all of it system time, is sampled as the next task's. User mode
// is never in such a stretch.
//
// perf starts before the warmup with its events disabled (-D -1) and
// is switched on and off through its control descriptors (--control
// fd:3,4), each command acknowledged, so that its start-up is not in the
// window.

// perfRun is a perf record running on the server's CPU.
type perfRun struct {
	cmd    *exec.Cmd
	data   string   // the perf.data file
	ctl    *os.File // commands to perf
	ack    *os.File // its acknowledgements
	acks   *bufio.Reader
	stderr *boundedBuffer
	done   chan struct{} // closed when perf has exited
	err    error         // perf's exit, once done is closed
	kill   sync.Once
}

// perfStart starts perf record on CPU cpu, with its events off,
// writing to data.
func perfStart(cpu, freq int, data string) (*perfRun, error) {
	bin, err := exec.LookPath("perf")
	if err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	os.Remove(data) // else perf keeps the old one as data.old
	// cpu-clock:uk asks for kernel samples too, so that perf fails
	// rather than quietly leave them out (as it does under
	// perf_event_paranoid 2 without privileges): the split would be
	// all user. The samples carry the process id and the instruction
	// pointer, which is all perfCount reads: no build ids, no
	// processes', maps' or BPF programs' records, which take perf most
	// of a second to gather.
	p := &perfRun{
		cmd: exec.Command(bin, "record", "-q", "-e", "cpu-clock:uk", "-F", strconv.Itoa(freq),
			"-C", strconv.Itoa(cpu), "-o", data, "-D", "-1", "--control", "fd:3,4",
			"--no-buildid", "--no-buildid-cache", "--no-bpf-event", "--synth=no"),
		data:   data,
		ctl:    ctlW,
		ack:    ackR,
		acks:   bufio.NewReader(ackR),
		stderr: &boundedBuffer{max: 4096},
		done:   make(chan struct{}),
	}
	p.cmd.ExtraFiles = []*os.File{ctlR, ackW} // descriptors 3 and 4
	p.cmd.Stderr = p.stderr
	// perf dies with the load, whatever the way it ends.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = p.cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		ctlW.Close()
		ackR.Close()
		return nil, fmt.Errorf("perf: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// command sends perf a control command and waits for its
// acknowledgement, for timeout at most.
func (p *perfRun) command(c string, timeout time.Duration) error {
	p.ctl.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := p.ctl.WriteString(c + "\n"); err != nil {
		return p.failed(c, err)
	}
	p.ack.SetReadDeadline(time.Now().Add(timeout))
	line, err := p.acks.ReadString('\n')
	if err != nil {
		return p.failed(c, err)
	}
	// perf writes "ack\n" and its C string's NUL, which comes
	// before the next ack.
	if strings.Trim(line, "\x00\n") != "ack" {
		return fmt.Errorf("perf %s: answered %q", c, line)
	}
	return nil
}

// failed describes an error in talking to perf, with what perf said.
func (p *perfRun) failed(c string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errors.New("no answer")
	}
	select {
	case <-p.done:
		err = fmt.Errorf("%w (perf exited: %v)", err, p.err)
	case <-time.After(100 * time.Millisecond):
	}
	if s := strings.TrimSpace(p.stderr.String()); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	return fmt.Errorf("perf %s: %w", c, err)
}

// stop ends perf with SIGINT, so that it writes its file, and waits for
// it; it kills it if it takes longer than timeout.
func (p *perfRun) stop(timeout time.Duration) error {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.abort()
		return fmt.Errorf("perf did not stop within %v", timeout)
	}
	p.ctl.Close()
	p.ack.Close()
	// perf record, interrupted, writes its file and then dies of the
	// signal it got (raises it again).
	var exit *exec.ExitError
	if p.err != nil && !(errors.As(p.err, &exit) && interrupted(exit)) {
		return fmt.Errorf("perf record: %v: %s", p.err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

// interrupted tells whether a process ended by SIGINT, or with the
// status 130 that a shell gives that.
func interrupted(exit *exec.ExitError) bool {
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGINT {
		return true
	}
	return exit.ExitCode() == 128+int(syscall.SIGINT)
}

// abort kills perf, at once; safe to call at any time, more than once.
func (p *perfRun) abort() {
	p.kill.Do(func() {
		p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(time.Second):
		}
		os.Remove(p.data)
	})
}

// perfSplit is what the samples say.
type perfSplit struct {
	samples, user     int64 // the process's samples, and those in user mode
	sampledNs, userNs int64 // the on-CPU time they stand for
}

// perfCount adds up the samples of each process of pids in a perf.data
// file and those taken in user mode, and removes the file. A sample's mode
// is told by its instruction pointer: the kernel lives in the upper half
// of the address space (x86-64, arm64, riscv64 alike), user space in the
// lower; the vDSO is user space.
func perfCount(data string, pids []int, timeout time.Duration) (map[int]perfSplit, error) {
	defer os.Remove(data)
	splits := make(map[int]perfSplit, len(pids))
	for _, pid := range pids {
		splits[pid] = perfSplit{}
	}
	var others int64
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "perf", "script", "-i", data, "-F", "pid,period,ip")
	stderr := &boundedBuffer{max: 4096}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf script: %w", err)
	}
	sc := bufio.NewScanner(out)
	var bad string
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // "1234     250000      7f300a92a8d3"
		if len(f) == 0 {
			continue
		}
		var p int
		var period int64
		var ip uint64
		err := errors.New("not pid, period and ip")
		if len(f) == 3 {
			if p, err = strconv.Atoi(f[0]); err == nil {
				if period, err = strconv.ParseInt(f[1], 10, 64); err == nil {
					ip, err = strconv.ParseUint(f[2], 16, 64)
				}
			}
		}
		if err != nil {
			if bad == "" {
				bad = sc.Text()
			}
			continue
		}
		s, ok := splits[p]
		if !ok {
			others++
			continue
		}
		s.samples++
		s.sampledNs += period
		if ip < 1<<63 {
			s.user++
			s.userNs += period
		}
		splits[p] = s
	}
	scanErr := sc.Err()
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("perf script: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	switch {
	case scanErr != nil:
		return nil, fmt.Errorf("perf script: %w", scanErr)
	case bad != "":
		return nil, fmt.Errorf("perf script: cannot parse %q", bad)
	}
	for pid, s := range splits {
		if s.samples == 0 {
			return nil, fmt.Errorf("perf: no samples of process %d in the window (%d of others): is it on the CPU perf watched?", pid, others)
		}
	}
	return splits, nil
}

// boundedBuffer keeps the first max bytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
