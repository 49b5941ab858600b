//go:build !unix

package selectors

import "math"

// maxFD is the largest descriptor number a file object may have. A
// Windows SOCKET is a pointer-sized handle, so any non-negative int is one.
const maxFD = math.MaxInt
