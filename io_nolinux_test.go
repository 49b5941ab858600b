//go:build unix && !linux

package selectors

// platformSocketOptions: elsewhere the keep-alive timings' options differ
// from system to system; TCP_NODELAY and SO_KEEPALIVE are checked.
var platformSocketOptions []socketOption
