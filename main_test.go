package selectors

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The runtime opens its network poller's two descriptors when the
	// first timer starts, which go test's -timeout alarm does, unless
	// -timeout is 0: then it would happen in the middle of a test that
	// counts the process's descriptors. Start one now.
	time.AfterFunc(time.Hour, func() {}).Stop()
	goleak.VerifyTestMain(m)
}
