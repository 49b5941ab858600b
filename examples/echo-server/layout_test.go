package main

import (
	"testing"
	"unsafe"
)

// Every event reads a conn, so it must fit a 64-byte allocation, which
// starts on a cache line (see conn). An 80-byte conn, with the peer's
// address in it, fails here.
func TestConnFitsACacheLine(t *testing.T) {
	if size := unsafe.Sizeof(conn{}); size > 64 {
		t.Fatalf("conn is %d bytes: it spans two cache lines; keep cold fields out of it", size)
	}
}
