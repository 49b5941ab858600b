package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in nanoseconds, in buckets within 1/64 of
// their value: bounded memory whatever the run's length, and quantiles
// good to about 1.5%.
//
// Values below 128 have a bucket each; above, each power of two is cut
// into 64 buckets.
type histogram struct {
	counts [128 + 57*64]int64
	total  int64
}

func bucket(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 128)
	return 128 + (shift-1)*64 + int(v>>shift) - 64
}

// middle is the value a bucket stands for.
func middle(i int) float64 {
	if i < 128 {
		return float64(i)
	}
	shift := (i-128)/64 + 1
	low := uint64((i-128)%64+64) << shift
	return float64(low) + float64(uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucket(uint64(max(d, 0)))]++
	h.total++
}

func (h *histogram) add(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// quantile returns the value below which the fraction q of the values
// lie, in nanoseconds; 0 when there are none.
func (h *histogram) quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := int64(q*float64(h.total-1)) + 1
	var seen int64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return middle(i)
		}
	}
	return middle(len(h.counts) - 1)
}
