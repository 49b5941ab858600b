//go:build race

package echotest

// raceEnabled builds the examples with the race detector when their tests
// run with it, so that the tests check the binaries too.
const raceEnabled = true
