package selectors

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// A backend is one kind of selector. Each backend file fills its place in
// backends from an init function, so that the order below is the priority
// whatever the order of the files.
type backend struct {
	name string
	new  func() (Selector, error)
}

// The priority of the backends, best first: Python's, by scalability.
const (
	byKqueue = iota
	byDevpoll
	byEpoll
	byAFD
	byPoll
	bySelect
	numBackends
)

var backends [numBackends]backend

// asSelector returns s as a Selector, or a nil Selector (not a nil *T in
// an interface) with err.
func asSelector[S Selector](s S, err error) (Selector, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DefaultSelector returns the best selector that works here and now, in
// the order kqueue, /dev/poll, epoll, afd, poll, select: it falls back to the
// next backend when one cannot be created (a sandbox that forbids epoll,
// say). If none can, it returns every backend's error joined.
func DefaultSelector() (Selector, error) {
	var errs []error
	for _, b := range backends {
		if b.new == nil {
			continue
		}
		s, err := b.new()
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("selectors: no backend: %w on this platform", errors.ErrUnsupported)
	}
	return nil, errors.Join(errs...)
}

// Backends returns the names of the backends this platform has, best
// first: some of "kqueue", "devpoll", "epoll", "afd", "poll" and "select".
func Backends() []string {
	var names []string
	for _, b := range backends {
		if b.new != nil {
			names = append(names, b.name)
		}
	}
	return names
}

// New returns a selector of the backend named (one of Backends, or
// "default" for DefaultSelector). A name that is no backend, or one that
// this platform lacks, returns an error wrapping errors.ErrUnsupported
// that says which.
func New(backend string) (Selector, error) {
	if backend == "default" {
		return DefaultSelector()
	}
	for _, b := range backends {
		if b.new != nil && b.name == backend {
			return b.new()
		}
	}
	return nil, backendError(backend)
}

// everyBackend is the name of every backend of every platform.
var everyBackend = []string{"kqueue", "devpoll", "epoll", "afd", "poll", "select"}

// backendError is New's error for a name this platform has no backend of.
type backendError string

func (e backendError) Error() string {
	have := strings.Join(append([]string{"default"}, Backends()...), ", ")
	if !slices.Contains(everyBackend, string(e)) {
		return fmt.Sprintf("selectors: unknown backend %q (this platform has %s)", string(e), have)
	}
	return fmt.Sprintf("selectors: backend %q is not available on %s (it has %s)", string(e), runtime.GOOS, have)
}

// Unwrap makes the error errors.ErrUnsupported, so that a caller can tell
// a bad name from a backend that failed to start.
func (backendError) Unwrap() error { return errors.ErrUnsupported }

// BackendName returns the name of the backend behind s ("epoll", "poll",
// ...), or "" for a Selector not of this package.
func BackendName(s Selector) string {
	if c, ok := s.(interface{ core() *selector }); ok {
		return c.core().backendName()
	}
	return ""
}
