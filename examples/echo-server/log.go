package main

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// logger writes the loop's log lines to w from a goroutine of its own,
// taking them from a bounded queue: the loop never waits for w, whoever
// reads it and however slowly. Only the loop's goroutine calls its
// methods.
type logger struct {
	lines   chan string
	dropped int // lines that found the queue full, not yet reported
	done    chan struct{}
}

// newLogger starts a logger that holds at most queue lines not yet written.
func newLogger(w io.Writer, queue int) *logger {
	l := &logger{lines: make(chan string, queue), done: make(chan struct{})}
	go l.write(w)
	return l
}

// Printf logs a line, formatted as by fmt.Printf, with a newline added. If
// the queue is full, it drops the line and counts it; the count is logged
// before the next line that finds room.
func (l *logger) Printf(format string, args ...any) {
	l.reportDropped()
	if l.full() {
		l.dropped++
		return
	}
	l.lines <- fmt.Sprintf(format+"\n", args...)
}

// full reports whether the queue has no room. The loop is its only sender,
// so room found here is still there for the send that follows.
func (l *logger) full() bool { return len(l.lines) == cap(l.lines) }

func (l *logger) reportDropped() {
	if l.dropped > 0 && !l.full() {
		l.lines <- fmt.Sprintf("log: %d lines dropped: stdout is not read fast enough\n", l.dropped)
		l.dropped = 0
	}
}

// write writes the lines queued, several at a time when they come faster
// than w takes them. Once a write fails (a closed pipe), the lines that
// follow are dropped: nobody will read them.
func (l *logger) write(w io.Writer) {
	defer close(l.done)
	bw := bufio.NewWriterSize(w, 64<<10)
	for line := range l.lines {
		bw.WriteString(line) // the error stays in bw, and ends its writes
		if len(l.lines) == 0 {
			bw.Flush()
		}
	}
	bw.Flush()
}

// Close ends the log, after the count of lines dropped if any, and waits
// at most timeout for the lines queued to be written.
func (l *logger) Close(timeout time.Duration) {
	l.reportDropped()
	close(l.lines)
	select {
	case <-l.done:
	case <-time.After(timeout):
	}
}
