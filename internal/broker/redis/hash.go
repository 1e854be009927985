package redis

import "hash/fnv"

// shardIndex picks the shard of channel among n with Jump Consistent Hash
// (Lamping and Veach, 2014): adding an n+1st shard moves only about 1/(n+1)
// of the channels.
func shardIndex(channel string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(channel))
	return jumpHash(h.Sum64(), n)
}

func jumpHash(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// workerIndex spreads channels over n workers (FNV-1a).
func workerIndex(channel string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(channel); i++ {
		h ^= uint32(channel[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
