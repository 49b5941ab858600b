//go:build !windows

package main

import "syscall"

// connReset is the error of a read or write on a connection that its peer
// reset.
const connReset = syscall.ECONNRESET
