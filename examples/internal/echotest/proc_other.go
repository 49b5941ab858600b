//go:build !linux

package echotest

// PeakRSS returns the most resident memory process pid has used, and false
// where the platform does not tell: here.
func PeakRSS(pid int) (bytes int64, ok bool) { return 0, false }

// OpenFiles returns how many descriptors process pid has open, and false
// where the platform does not tell: here.
func OpenFiles(pid int) (int, bool) { return 0, false }
