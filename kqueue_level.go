//go:build dragonfly || freebsd || netbsd || openbsd

package selectors

import "golang.org/x/sys/unix"

// exceptRearm has nothing to do here: the except filter, where there is
// one, is level-triggered (see exceptFlags).
type exceptRearm struct{}

func (exceptRearm) note(*unix.Kevent_t, *keyTable) {}

func (exceptRearm) before(int) {}

func (exceptRearm) forget(int) {}
