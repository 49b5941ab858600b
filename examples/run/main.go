//go:build unix

// Command run runs a command, feeds it run's own standard input, and
// relays its standard output and standard error line by line, each line
// prefixed with the stream it came from; then it exits with the command's
// exit status:
//
//	$ run sh -c 'echo hello; echo oops >&2; exit 3'
//	out: hello
//	err: oops
//	$ echo $?
//	3
//
// It does what Python's subprocess.Popen.communicate does with a selector:
// one selector loop over the three pipes, reading whichever output has
// something and writing the input when the command's pipe has room, so
// that a command writing much to both outputs while it reads much input
// never waits on run while run waits on it. Each callback is in its key's
// Data. run reads its stdin a piece (64 KiB) at a time, the next once the
// last is written, so that it holds one piece at most.
//
// A last line without a newline is relayed with one; a line longer than 64
// KiB is relayed in pieces of that size. A command that does not read its
// input (its stdin closed, or exited) gets no more of it: run stops
// reading its own stdin. A command killed by a signal makes run exit with
// 128 plus the signal's number, as a shell does; one that cannot be
// started, with 127. Ctrl-C on a terminal reaches both run and the
// command: run lets the command decide, and relays what it still writes.
//
// Usage:
//
//	run [-selector default] command [arg ...]
//
// Unix only: Windows's selectors take sockets only, and pipes and the
// console are no sockets there.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/seed08bc25bd/selectors"
)

const pieceSize = 64 << 10 // one read; and the longest line relayed whole

func main() {
	os.Exit(run())
}

func run() int {
	backend := flag.String("selector", "default",
		"selector `backend`: default, or one this platform has: "+strings.Join(selectors.Backends(), ", "))
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: run [-selector backend] command [arg ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		return 2
	}
	sel, err := selectors.New(*backend)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 2
	}
	defer sel.Close()

	// Ctrl-C goes to the command too, which decides whether to end; run
	// stays to relay what it writes meanwhile. Notify, not Ignore: an
	// ignored signal would stay ignored in the command.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)

	cmd, toChild, stdout, stderr, err := start(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	// The command's exit is no event a selector can watch here: a
	// goroutine waits for it, and wakes the loop.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
		sel.Wakeup()
	}()

	r := &relay{sel: sel, out: bufio.NewWriterSize(os.Stdout, pieceSize)}
	for _, o := range []*output{{r: r, f: stdout, prefix: "out: "}, {r: r, f: stderr, prefix: "err: "}} {
		if _, err := sel.Register(o.f, selectors.EVENT_READ, o.read); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			cmd.Process.Kill()
			return 1
		}
		r.outputs++
	}
	r.in = &input{r: r, toChild: toChild}
	r.in.readStdin()

	err = r.loop(exited)
	if err == nil {
		err = r.out.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		cmd.Process.Kill()
		<-exited
		return 1
	}
	<-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// start starts the command args with a pipe for each of its stdin, stdout
// and stderr, and returns the pipes' ends that run keeps. Those are
// non-blocking, as os.Pipe makes them; the command's are blocking, as a
// program expects.
func start(args []string) (cmd *exec.Cmd, toChild, stdout, stderr *os.File, err error) {
	var theirs, ours [3]*os.File
	for i := range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, nil, nil, err // run exits, and the pipes close with it
		}
		if i == 0 {
			theirs[i], ours[i] = r, w
		} else {
			ours[i], theirs[i] = r, w
		}
	}
	cmd = exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = theirs[0], theirs[1], theirs[2]
	err = cmd.Start()
	// Only the command holds its ends now: when it exits, run reads the
	// end of its outputs, and its writes to the input fail.
	for _, f := range theirs {
		f.Close()
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return cmd, ours[0], ours[1], ours[2], nil
}

// relay is what the loop's callbacks share.
type relay struct {
	sel     selectors.Selector
	out     *bufio.Writer // run's stdout, flushed before each Select
	in      *input
	outputs int   // the command's outputs not yet at their end
	err     error // the first error writing out, which ends the loop
	buf     [pieceSize]byte
}

// loop calls the callbacks of what is ready until both outputs have
// ended, and the command has exited.
func (r *relay) loop(exited <-chan struct{}) error {
	childGone := false
	for r.outputs > 0 || !childGone {
		if err := r.out.Flush(); err != nil {
			return fmt.Errorf("writing stdout: %w", err)
		}
		ready, err := r.sel.Select(-1)
		if err != nil {
			return err
		}
		for _, k := range ready {
			callback := k.Key.Data.(func(selectors.Events))
			callback(k.Mask)
		}
		if r.err != nil {
			return r.err
		}
		select {
		case <-exited:
			childGone = true
			r.in.stop() // nobody will read the rest
		default:
		}
	}
	return nil
}

// output is one of the command's outputs: its pipe's end and the line it
// has begun.
type output struct {
	r      *relay
	f      *os.File
	prefix string
	line   []byte
}

// read is an output's callback: it reads what the command wrote, and
// relays each line it completes.
func (o *output) read(selectors.Events) {
	n, err := selectors.Read(o.f, o.r.buf[:])
	switch {
	case errors.Is(err, selectors.ErrWouldBlock):
		return // nothing there after all: a spurious report
	case err != nil:
		// The end, or an error that ends it all the same.
		if len(o.line) > 0 {
			o.relay(append(o.line, '\n'))
		}
		o.r.sel.Unregister(o.f)
		o.f.Close()
		o.r.outputs--
		return
	}
	data := o.r.buf[:n]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			o.line = append(o.line, data...)
			if len(o.line) >= pieceSize {
				o.relay(append(o.line, '\n'))
			}
			return
		}
		if len(o.line) > 0 {
			o.relay(append(append(o.line, data[:i]...), '\n'))
		} else {
			o.relay(data[:i+1])
		}
		data = data[i+1:]
	}
}

// relay writes a line, prefixed, to run's stdout, and begins a new one.
func (o *output) relay(line []byte) {
	o.r.out.WriteString(o.prefix)
	if _, err := o.r.out.Write(line); err != nil && o.r.err == nil {
		o.r.err = fmt.Errorf("writing stdout: %w", err)
	}
	o.line = o.line[:0]
}

// input feeds run's stdin to the command, a piece at a time: it watches
// stdin for reading while it holds nothing, and the command's pipe for
// writing while it holds a piece.
type input struct {
	r       *relay
	toChild *os.File // the write end of the command's stdin; nil once closed
	piece   []byte   // read from stdin, not yet written
	buf     [pieceSize]byte
	// stdinAlways: stdin is a regular file or /dev/null, which epoll
	// refuses to watch and which is always ready to read.
	stdinAlways bool
}

// readStdin reads a piece of stdin if it is ready without waiting, and
// else watches it.
func (in *input) readStdin() {
	if !in.stdinAlways {
		_, err := in.r.sel.Register(os.Stdin, selectors.EVENT_READ, in.stdinReady)
		if errors.Is(err, syscall.EPERM) {
			in.stdinAlways = true
		} else if err != nil {
			// No stdin (closed, say): the command gets none either.
			in.stop()
			return
		} else {
			return
		}
	}
	in.stdinReady(selectors.EVENT_READ)
}

// stdinReady is stdin's callback: it reads a piece, and then watches the
// command's pipe to write it.
func (in *input) stdinReady(selectors.Events) {
	n, err := selectors.Read(os.Stdin, in.buf[:])
	if errors.Is(err, selectors.ErrWouldBlock) {
		return // nothing there after all: a spurious report
	}
	if !in.stdinAlways {
		in.r.sel.Unregister(os.Stdin)
	}
	if err != nil {
		// The end of the input, or an error that ends it all the same.
		in.stop()
		return
	}
	in.piece = in.buf[:n]
	if _, err := in.r.sel.Register(in.toChild, selectors.EVENT_WRITE, in.write); err != nil {
		in.stop()
	}
}

// write is the callback of the command's pipe: it writes what it can of
// the piece, and once it is all written, goes back to reading stdin.
func (in *input) write(selectors.Events) {
	n, err := selectors.Write(in.toChild, in.piece)
	in.piece = in.piece[n:]
	switch {
	case errors.Is(err, selectors.ErrWouldBlock):
		return // the rest when the pipe has room
	case err != nil:
		// EPIPE: the command closed its stdin, or exited; it wants no
		// more input.
		in.stop()
		return
	}
	in.r.sel.Unregister(in.toChild)
	in.readStdin()
}

// stop ends the input: the command reads the end of its stdin, if it
// still reads it, and run reads no more of its own.
func (in *input) stop() {
	if in.toChild == nil {
		return
	}
	// Unregistering what is not registered fails harmlessly: which of the
	// two is, depends on where the input was.
	in.r.sel.Unregister(os.Stdin)
	in.r.sel.Unregister(in.toChild)
	in.toChild.Close()
	in.toChild = nil
	in.piece = nil
}
