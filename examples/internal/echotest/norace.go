//go:build !race

package echotest

const raceEnabled = false
