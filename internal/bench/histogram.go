package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram geometry: values below 2^subBits are counted exactly; above,
// each power of two is split into 2^(subBits-1) equal buckets, so a bucket is
// at most 1/32 (3.1 %) of its values wide. Durations are in nanoseconds and
// int64, so 63-subBits octaves above the exact range cover everything.
const (
	subBits    = 6
	subCount   = 1 << subBits // 64 exact buckets, then 32 per octave
	halfCount  = subCount / 2 // buckets per octave
	numBuckets = subCount + (63-subBits)*halfCount
)

// histogram counts durations in fixed log-linear buckets (HDR-like), so its
// memory stays constant (about 15 KiB) however many values it records.
// Record is lock-free and safe for concurrent use; read it once recording
// has stopped.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
}

func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits // ≥ 1
	return subCount + (shift-1)*halfCount + int(uint64(v)>>shift) - halfCount
}

// bucketRange returns the smallest value of bucket i and the bucket width.
func bucketRange(i int) (low, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	shift := (i-subCount)/halfCount + 1
	m := int64((i-subCount)%halfCount + halfCount)
	return m << shift, 1 << shift
}

// Record adds one duration; negative durations count as zero.
func (h *histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value, exact.
func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the value below which a fraction q (0..1) of the
// recorded values fall: the middle of the bucket holding that rank, never
// more than Max. It is 0 when nothing was recorded.
func (h *histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			low, width := bucketRange(i)
			return time.Duration(min(low+(width-1)/2, h.max.Load()))
		}
	}
	return h.Max()
}

// ms converts d to milliseconds rounded to the microsecond, for summaries.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/1e3) / 1e3
}
