// Package memory is the in-process engine: publications go straight to this
// node's subscribers, and history streams, idempotent publish results and
// presence live in the process. It is the default engine of a single node.
package memory

import (
	"context"
	"crypto/rand"
	"errors"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rotorhq/rotor/internal/node"
)

// numShards splits streams and presence by channel so that publishes to
// different channels rarely wait for each other.
const numShards = 128

// cleanupInterval is how often expired streams, idempotent results and
// presence entries are dropped. Reads skip expired data on their own, so
// this only bounds memory.
const cleanupInterval = 5 * time.Second

// Broker is an in-memory node.Broker and node.PresenceManager. Its methods
// are safe for concurrent use.
type Broker struct {
	h atomic.Pointer[handlerBox]

	streams  [numShards]streamShard
	presence [numShards]presenceShard

	// now is the clock; tests of the package may replace it.
	now func() time.Time

	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

type handlerBox struct{ h node.BrokerEventHandler }

var (
	_ node.Broker          = (*Broker)(nil)
	_ node.PresenceManager = (*Broker)(nil)
)

// New returns an in-memory engine. Run starts it; Close stops its cleanup
// goroutine.
func New() *Broker {
	b := &Broker{now: time.Now, stop: make(chan struct{})}
	for i := range b.streams {
		b.streams[i].streams = make(map[string]*stream)
		b.streams[i].results = make(map[resultKey]result)
		b.presence[i].channels = make(map[string]map[string]presenceEntry)
	}
	return b
}

func shardOf(channel string) int {
	f := fnv.New32a()
	_, _ = f.Write([]byte(channel))
	return int(f.Sum32() % numShards)
}

// DeliversOnCaller implements node.CallerDelivery: Publish hands the
// publication to the node on the publishing goroutine.
func (b *Broker) DeliversOnCaller() bool { return true }

// Run implements node.Broker.
func (b *Broker) Run(h node.BrokerEventHandler) error {
	if h == nil {
		return errors.New("memory broker: nil handler")
	}
	if !b.h.CompareAndSwap(nil, &handlerBox{h: h}) {
		return errors.New("memory broker: already running")
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(cleanupInterval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.cleanup()
			}
		}
	}()
	return nil
}

func (b *Broker) handler() (node.BrokerEventHandler, error) {
	box := b.h.Load()
	if box == nil {
		return nil, errors.New("memory broker: not running")
	}
	return box.h, nil
}

// Subscribe implements node.Broker; the hub alone decides delivery in memory.
func (b *Broker) Subscribe(string) error { return nil }

// Unsubscribe implements node.Broker.
func (b *Broker) Unsubscribe(string) error { return nil }

// Close implements node.Broker.
func (b *Broker) Close() error {
	b.stopOnce.Do(func() { close(b.stop) })
	b.wg.Wait()
	return nil
}

// streamShard holds the history streams and idempotent results of the
// channels hashed to it. pubMu serialises publishes (adding to the stream
// and delivering) so that each channel's publications reach the node in
// offset order; mu guards the maps and is never held while delivering.
type streamShard struct {
	pubMu   sync.Mutex
	mu      sync.Mutex
	streams map[string]*stream
	results map[resultKey]result
}

type resultKey struct{ channel, key string }

type result struct {
	sp       node.StreamPosition
	expireAt time.Time
}

// stream is one channel's history: a ring of the latest publications, whose
// offsets are contiguous and end at top.
type stream struct {
	epoch string
	top   uint64
	ring  []*node.Publication
	start int // index of the oldest publication in ring
	n     int // publications in ring
	// pubsExpireAt drops the publications (not the position) once passed;
	// metaExpireAt drops the whole stream (a new epoch starts). Zero: never.
	pubsExpireAt time.Time
	metaExpireAt time.Time
}

func newStream() *stream { return &stream{epoch: newEpoch()} }

// epochAlphabet makes epochs readable and safe in any key or URL.
const epochAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = epochAlphabet[int(b[i])%len(epochAlphabet)]
	}
	return string(b[:])
}

func (s *stream) add(pub *node.Publication, size int) {
	if size <= 0 {
		return
	}
	if len(s.ring) != size {
		s.resize(size)
	}
	if s.n < size {
		s.ring[(s.start+s.n)%size] = pub
		s.n++
		return
	}
	s.ring[s.start] = pub
	s.start = (s.start + 1) % size
}

// resize keeps the newest publications in a ring of the new size (a
// namespace's history_size can change on reload).
func (s *stream) resize(size int) {
	pubs := s.pubs()
	if len(pubs) > size {
		pubs = pubs[len(pubs)-size:]
	}
	ring := make([]*node.Publication, size)
	copy(ring, pubs)
	s.ring, s.start, s.n = ring, 0, len(pubs)
}

// pubs returns the publications, oldest first, in a new slice.
func (s *stream) pubs() []*node.Publication {
	out := make([]*node.Publication, 0, s.n)
	for i := 0; i < s.n; i++ {
		out = append(out, s.ring[(s.start+i)%len(s.ring)])
	}
	return out
}

func (s *stream) at(i int) *node.Publication { return s.ring[(s.start+i)%len(s.ring)] }

func (s *stream) clearPubs() {
	clear(s.ring)
	s.start, s.n = 0, 0
}

// streamLocked returns channel's live stream, dropping expired parts, and
// creates one when create is set (nil otherwise); created tells which.
func (b *Broker) streamLocked(sh *streamShard, channel string, now time.Time, create bool) (s *stream, created bool) {
	s = sh.streams[channel]
	if s != nil && !s.metaExpireAt.IsZero() && now.After(s.metaExpireAt) {
		delete(sh.streams, channel)
		s = nil
	}
	if s == nil {
		if !create {
			return nil, false
		}
		s = newStream()
		// The name may point into a client's frame: keep a copy.
		sh.streams[strings.Clone(channel)] = s
		return s, true
	}
	if s.n > 0 && !s.pubsExpireAt.IsZero() && now.After(s.pubsExpireAt) {
		s.clearPubs()
	}
	return s, false
}

// touchMeta makes the stream's position live metaTTL from now; 0 means
// forever. Publishes call it; reads only for the stream they create, so a
// stream nobody publishes to restarts (new epoch) metaTTL after its last
// publication however often it is read.
func touchMeta(s *stream, now time.Time, metaTTL time.Duration) {
	if metaTTL > 0 {
		s.metaExpireAt = now.Add(metaTTL)
	} else {
		s.metaExpireAt = time.Time{}
	}
}

// Publish implements node.Broker.
func (b *Broker) Publish(ctx context.Context, channel string, data []byte, opts node.PublishOptions) (node.StreamPosition, error) {
	h, err := b.handler()
	if err != nil {
		return node.StreamPosition{}, err
	}
	if err := ctx.Err(); err != nil {
		return node.StreamPosition{}, err
	}
	sh := &b.streams[shardOf(channel)]
	sh.pubMu.Lock()
	defer sh.pubMu.Unlock()

	now := b.now()
	rk := resultKey{channel, opts.IdempotencyKey}
	if opts.IdempotencyKey != "" {
		sh.mu.Lock()
		r, ok := sh.results[rk]
		sh.mu.Unlock()
		if ok && now.Before(r.expireAt) {
			return r.sp, nil
		}
	}

	pub := &node.Publication{Data: data, Info: opts.ClientInfo, Tags: opts.Tags}
	var sp node.StreamPosition
	if opts.HistorySize > 0 && opts.HistoryTTL > 0 && !opts.SkipHistory {
		sh.mu.Lock()
		s, _ := b.streamLocked(sh, channel, now, true)
		s.top++
		pub.Offset = s.top
		s.add(pub, opts.HistorySize)
		s.pubsExpireAt = now.Add(opts.HistoryTTL)
		touchMeta(s, now, opts.HistoryMetaTTL)
		sp = node.StreamPosition{Offset: s.top, Epoch: s.epoch}
		sh.mu.Unlock()
	}
	if opts.IdempotencyKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = node.IdempotentResultTTL
		}
		sh.mu.Lock()
		sh.results[resultKey{strings.Clone(channel), strings.Clone(opts.IdempotencyKey)}] = result{sp: sp, expireAt: now.Add(ttl)}
		sh.mu.Unlock()
	}
	return sp, h.HandlePublication(channel, pub, sp, opts.Delta)
}

// PublishJoin implements node.Broker.
func (b *Broker) PublishJoin(ctx context.Context, channel string, info *node.ClientInfo) error {
	h, err := b.handler()
	if err != nil {
		return err
	}
	return h.HandleJoin(channel, info)
}

// PublishLeave implements node.Broker.
func (b *Broker) PublishLeave(ctx context.Context, channel string, info *node.ClientInfo) error {
	h, err := b.handler()
	if err != nil {
		return err
	}
	return h.HandleLeave(channel, info)
}

// PublishControl implements node.Broker: the only node is this one.
func (b *Broker) PublishControl(ctx context.Context, data []byte) error {
	h, err := b.handler()
	if err != nil {
		return err
	}
	return h.HandleControl(data)
}

// History implements node.Broker.
func (b *Broker) History(ctx context.Context, channel string, opts node.HistoryOptions) (node.HistoryResult, error) {
	if err := ctx.Err(); err != nil {
		return node.HistoryResult{}, err
	}
	sh := &b.streams[shardOf(channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := b.now()
	s, created := b.streamLocked(sh, channel, now, true)
	if created {
		touchMeta(s, now, opts.MetaTTL)
	}
	res := node.HistoryResult{StreamPosition: node.StreamPosition{Offset: s.top, Epoch: s.epoch}}
	if opts.Since != nil && opts.Since.Epoch != "" && opts.Since.Epoch != s.epoch {
		return node.HistoryResult{}, node.ErrorUnrecoverablePosition
	}
	if opts.Limit == 0 || s.n == 0 {
		return res, nil
	}
	limit := opts.Limit
	if limit < 0 || limit > s.n {
		limit = s.n
	}
	// Offsets in the ring are contiguous: the oldest is top-n+1.
	first := s.top - uint64(s.n) + 1
	if !opts.Reverse {
		i := 0
		if opts.Since != nil && opts.Since.Offset >= first {
			if opts.Since.Offset >= s.top {
				return res, nil
			}
			i = int(opts.Since.Offset - first + 1)
		}
		end := min(i+limit, s.n)
		res.Publications = make([]*node.Publication, 0, end-i)
		for ; i < end; i++ {
			res.Publications = append(res.Publications, s.at(i))
		}
		return res, nil
	}
	i := s.n - 1
	if opts.Since != nil {
		if opts.Since.Offset <= first {
			return res, nil
		}
		if opts.Since.Offset <= s.top {
			i = int(opts.Since.Offset-first) - 1
		}
	}
	res.Publications = make([]*node.Publication, 0, min(limit, i+1))
	for ; i >= 0 && len(res.Publications) < limit; i-- {
		res.Publications = append(res.Publications, s.at(i))
	}
	return res, nil
}

// RemoveHistory implements node.Broker.
func (b *Broker) RemoveHistory(ctx context.Context, channel string) error {
	sh := &b.streams[shardOf(channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s, _ := b.streamLocked(sh, channel, b.now(), false); s != nil {
		s.clearPubs()
	}
	return nil
}

// presenceShard holds the presence of the channels hashed to it.
type presenceShard struct {
	mu       sync.Mutex
	channels map[string]map[string]presenceEntry
}

type presenceEntry struct {
	info     *node.ClientInfo
	expireAt time.Time
}

// AddPresence implements node.PresenceManager.
func (b *Broker) AddPresence(ctx context.Context, channel, client string, info *node.ClientInfo, ttl time.Duration) error {
	if info == nil {
		return errors.New("memory presence: nil client info")
	}
	sh := &b.presence[shardOf(channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.channels[channel]
	if m == nil {
		m = make(map[string]presenceEntry)
		sh.channels[strings.Clone(channel)] = m
	}
	e := presenceEntry{info: info}
	if ttl > 0 {
		e.expireAt = b.now().Add(ttl)
	}
	m[client] = e
	return nil
}

// RemovePresence implements node.PresenceManager.
func (b *Broker) RemovePresence(ctx context.Context, channel, client, user string) error {
	sh := &b.presence[shardOf(channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if m := sh.channels[channel]; m != nil {
		delete(m, client)
		if len(m) == 0 {
			delete(sh.channels, channel)
		}
	}
	return nil
}

// Presence implements node.PresenceManager.
func (b *Broker) Presence(ctx context.Context, channel string) (map[string]*node.ClientInfo, error) {
	sh := &b.presence[shardOf(channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := b.now()
	m := sh.channels[channel]
	out := make(map[string]*node.ClientInfo, len(m))
	for id, e := range m {
		if live(e, now) {
			out[id] = e.info
		}
	}
	return out, nil
}

// PresenceStats implements node.PresenceManager.
func (b *Broker) PresenceStats(ctx context.Context, channel string) (node.PresenceStats, error) {
	sh := &b.presence[shardOf(channel)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := b.now()
	var st node.PresenceStats
	users := make(map[string]struct{})
	for _, e := range sh.channels[channel] {
		if !live(e, now) {
			continue
		}
		st.NumClients++
		users[e.info.User] = struct{}{}
	}
	st.NumUsers = len(users)
	return st, nil
}

func live(e presenceEntry, now time.Time) bool {
	return e.expireAt.IsZero() || now.Before(e.expireAt)
}

// cleanup drops expired streams, stream publications, idempotent results and
// presence entries.
func (b *Broker) cleanup() {
	now := b.now()
	for i := range b.streams {
		sh := &b.streams[i]
		sh.mu.Lock()
		for ch := range sh.streams {
			b.streamLocked(sh, ch, now, false)
		}
		for k, r := range sh.results {
			if !now.Before(r.expireAt) {
				delete(sh.results, k)
			}
		}
		sh.mu.Unlock()
	}
	for i := range b.presence {
		sh := &b.presence[i]
		sh.mu.Lock()
		for ch, m := range sh.channels {
			for id, e := range m {
				if !live(e, now) {
					delete(m, id)
				}
			}
			if len(m) == 0 {
				delete(sh.channels, ch)
			}
		}
		sh.mu.Unlock()
	}
}
