package selectors_test

import (
	"fmt"
	"time"

	"github.com/seed08bc25bd/selectors"
)

// Wakeup ends a Select blocked in another goroutine: the way to hand an
// event loop work from outside, or to stop it.
func ExampleSelector_Wakeup() {
	sel, err := selectors.DefaultSelector()
	if err != nil {
		panic(err)
	}
	defer sel.Close()

	go func() {
		time.Sleep(10 * time.Millisecond)
		sel.Wakeup()
	}()
	ready, err := sel.Select(-1) // no limit: only the Wakeup ends it
	fmt.Println(len(ready), err)
	// Output: 0 <nil>
}

// Events print as Python spells them, with unknown bits in hexadecimal.
func ExampleEvents_String() {
	fmt.Println(selectors.EVENT_READ | selectors.EVENT_WRITE)
	fmt.Println(selectors.Events(0), selectors.EVENT_URGENT, selectors.EVENT_READ|8)
	// Output:
	// EVENT_READ|EVENT_WRITE
	// 0 EVENT_URGENT EVENT_READ|0x8
}
