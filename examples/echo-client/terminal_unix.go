//go:build unix

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether stdin is a terminal: whether it has a
// terminal's settings to read.
func isTerminal() bool {
	_, err := unix.IoctlGetTermios(syscall.Stdin, getTermios)
	return err == nil
}
