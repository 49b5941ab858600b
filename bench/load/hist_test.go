package main

import (
	"math"
	"testing"
	"time"
)

func TestBucketHoldsItsValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 12345, 1e6, 1e9, 1 << 40, math.MaxInt64} {
		i := bucket(v)
		if m := middle(i); math.Abs(m-float64(v)) > float64(v)/64+1 {
			t.Errorf("value %d: bucket %d stands for %g, more than 1/64 away", v, i, m)
		}
		if i > 0 && bucket(v) < bucket(v-1) {
			t.Errorf("value %d: bucket %d is below that of %d", v, i, v-1)
		}
	}
}

func TestQuantile(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500e3}, {0.99, 990e3}, {1, 1000e3}} {
		if got := h.quantile(c.q); math.Abs(got-c.want) > c.want/64 {
			t.Errorf("quantile(%g) = %g, want %g within 1/64", c.q, got, c.want)
		}
	}
}
