package main

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// isTerminal reports whether stdin is a console: whether it has a
// console's mode to read.
func isTerminal() bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(syscall.Stdin), &mode) == nil
}
