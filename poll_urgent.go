//go:build unix && !darwin && !ios

package selectors

// pollBackendEvents is what the poll backend can report: EVENT_URGENT is POLLPRI.
const pollBackendEvents = pollLikeEvents
