package node

import (
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/centrifugal/protocol"
)

// numHubShards is how many shards split the hub's maps. A broadcast takes one
// channel shard's read lock only.
const numHubShards = 64

// hub keeps which clients are connected (by user) and which are subscribed to
// which channel (by channel), each sharded by a FNV-1a hash of the key.
//
// Lock order: a goroutine holding a subs shard lock takes no other hub lock,
// except withChannelsLocked, which takes several shards' locks in ascending
// index order. Client.mu is never taken under a shard lock; writer locks
// (enqueueNoFlush) are.
type hub struct {
	conns    [numHubShards]connShard
	subs     [numHubShards]subShard
	numConns atomic.Int64
	// onCaller is set when broadcasts run on the publishing goroutine
	// (CallerDelivery): small ones are then flushed there too.
	onCaller bool
}

type connShard struct {
	mu sync.RWMutex
	// users maps user id → client id → client.
	users map[string]map[string]*Client
}

type subShard struct {
	mu       sync.RWMutex
	channels map[string]*channelSubs
}

// channelSubs are the subscribers of one channel on this node.
type channelSubs struct {
	subs map[*Client]subEntry
	// numDelta counts subscribers that negotiated delta compression; while
	// there are any, prev keeps the last publication broadcast, the base of
	// the next delta. Written under the shard's write lock (numDelta) or by
	// the one broadcast of the channel in flight (prev).
	numDelta int
	prev     atomic.Pointer[Publication]
}

// subEntry is a subscriber in the hub. It copies what a broadcast checks for
// every subscriber, so that plain subscriptions cost no look into their
// clientSub: measured on BenchmarkBroadcast1000, following the pointer for
// each of 1000 subscribers made the fan-out about 15% slower.
type subEntry struct {
	sub   *clientSub
	flags subFlags
	tf    *protocol.FilterNode
	// ready is written under the shard's write lock (sub.ready mirrors it
	// for readers outside the lock).
	ready bool
}

// bufferedPub is a publication that reached a subscription still loading its
// stream state; it is merged into the subscribe reply.
type bufferedPub struct {
	pub   *Publication
	epoch string
}

func newHub() *hub {
	h := &hub{}
	for i := range h.conns {
		h.conns[i].users = make(map[string]map[string]*Client)
		h.subs[i].channels = make(map[string]*channelSubs)
	}
	return h
}

func shardIndex(key string) int {
	f := fnv.New64a()
	_, _ = f.Write([]byte(key))
	return int(f.Sum64() % numHubShards)
}

func (h *hub) addConn(c *Client) {
	s := &h.conns[shardIndex(c.user)]
	s.mu.Lock()
	m := s.users[c.user]
	if m == nil {
		m = make(map[string]*Client)
		s.users[c.user] = m
	}
	if _, ok := m[c.id]; !ok {
		m[c.id] = c
		h.numConns.Add(1)
	}
	s.mu.Unlock()
}

func (h *hub) removeConn(c *Client) {
	s := &h.conns[shardIndex(c.user)]
	s.mu.Lock()
	if m := s.users[c.user]; m != nil {
		if _, ok := m[c.id]; ok {
			delete(m, c.id)
			h.numConns.Add(-1)
		}
		if len(m) == 0 {
			delete(s.users, c.user)
		}
	}
	s.mu.Unlock()
}

// numClients is the number of connected clients.
func (h *hub) numClients() int { return int(h.numConns.Load()) }

// userConns returns a copy of the user's connections.
func (h *hub) userConns(user string) []*Client {
	s := &h.conns[shardIndex(user)]
	s.mu.RLock()
	m := s.users[user]
	out := make([]*Client, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	s.mu.RUnlock()
	return out
}

// numUserConns counts the user's connections.
func (h *hub) numUserConns(user string) int {
	s := &h.conns[shardIndex(user)]
	s.mu.RLock()
	n := len(s.users[user])
	s.mu.RUnlock()
	return n
}

// allConns returns a copy of every connection.
func (h *hub) allConns() []*Client {
	var out []*Client
	for i := range h.conns {
		s := &h.conns[i]
		s.mu.RLock()
		for _, m := range s.users {
			for _, c := range m {
				out = append(out, c)
			}
		}
		s.mu.RUnlock()
	}
	return out
}

// counts returns the number of clients and of unique users.
func (h *hub) counts() (clients, users int) {
	for i := range h.conns {
		s := &h.conns[i]
		s.mu.RLock()
		users += len(s.users)
		for _, m := range s.users {
			clients += len(m)
		}
		s.mu.RUnlock()
	}
	return clients, users
}

// addSub adds c to channel's subscribers with its subscription sub, not yet
// ready for publications (those arriving meanwhile are buffered in sub when
// it tracks its stream position, dropped otherwise). It reports whether c is
// the channel's first subscriber on this node.
func (h *hub) addSub(channel string, c *Client, sub *clientSub) (first bool) {
	s := &h.subs[shardIndex(channel)]
	s.mu.Lock()
	cs := s.channels[channel]
	if cs == nil {
		cs = &channelSubs{subs: make(map[*Client]subEntry)}
		s.channels[channel] = cs
		first = true
	}
	if old, ok := cs.subs[c]; ok && old.flags&subDelta != 0 {
		cs.numDelta--
	}
	sub.buffering = sub.flags&subPositioned != 0
	cs.subs[c] = subEntry{sub: sub, flags: sub.flags, tf: sub.tf}
	if sub.flags&subDelta != 0 {
		cs.numDelta++
	}
	s.mu.Unlock()
	return first
}

// setSubReady runs send (which queues the subscribe reply or push, and may
// merge what was buffered) and, when it reports true, lets publications in
// channel reach c — both under the channel's shard lock: a concurrent
// broadcast is then either before both (buffered or not sent) or after both
// (its publication follows the reply). It reports false when the
// subscription is gone or send failed.
func (h *hub) setSubReady(channel string, c *Client, sub *clientSub, send func(buffered []bufferedPub) bool) bool {
	ok := false
	h.withChannelsLocked([]string{channel}, func() {
		ok = h.readyLocked(channel, c, sub, send)
	})
	return ok
}

// hasSubLocked reports whether sub is c's subscription in channel; the
// caller holds the channel's shard lock.
func (h *hub) hasSubLocked(channel string, c *Client, sub *clientSub) bool {
	cs := h.subs[shardIndex(channel)].channels[channel]
	return cs != nil && cs.subs[c].sub == sub
}

// readyLocked is setSubReady for a caller holding channel's shard lock.
func (h *hub) readyLocked(channel string, c *Client, sub *clientSub, send func(buffered []bufferedPub) bool) bool {
	if !h.hasSubLocked(channel, c, sub) {
		return false
	}
	buf := sub.takeBuffered()
	if send != nil && !send(buf) {
		return false
	}
	h.markReadyLocked(channel, c, sub)
	return true
}

// markReadyLocked lets publications in channel reach c's subscription sub;
// the caller holds the channel's shard lock.
func (h *hub) markReadyLocked(channel string, c *Client, sub *clientSub) {
	cs := h.subs[shardIndex(channel)].channels[channel]
	if cs == nil {
		return
	}
	if e, ok := cs.subs[c]; ok && e.sub == sub {
		e.ready = true
		cs.subs[c] = e
		sub.ready.Store(true)
	}
}

// withChannelsLocked runs fn holding the write locks of the shards of
// channels, taken in ascending shard order.
func (h *hub) withChannelsLocked(channels []string, fn func()) {
	var idx [numHubShards]bool
	for _, ch := range channels {
		idx[shardIndex(ch)] = true
	}
	locked := make([]int, 0, min(len(channels), numHubShards))
	for i, on := range idx {
		if on {
			h.subs[i].mu.Lock()
			locked = append(locked, i)
		}
	}
	defer func() {
		for _, i := range slices.Backward(locked) {
			h.subs[i].mu.Unlock()
		}
	}()
	fn()
}

// removeSub removes c from channel when its subscription there is sub (any
// when sub is nil). It reports whether it was removed and whether the
// channel has no subscriber left on this node.
func (h *hub) removeSub(channel string, c *Client, sub *clientSub) (removed, last bool) {
	s := &h.subs[shardIndex(channel)]
	s.mu.Lock()
	cs := s.channels[channel]
	if cs != nil {
		if cur, ok := cs.subs[c]; ok && (sub == nil || cur.sub == sub) {
			delete(cs.subs, c)
			removed = true
			if cur.flags&subDelta != 0 {
				cs.numDelta--
				if cs.numDelta == 0 {
					cs.prev.Store(nil)
				}
			}
			cur.sub.takeBuffered()
		}
		if len(cs.subs) == 0 {
			delete(s.channels, channel)
			last = true
		}
	}
	s.mu.Unlock()
	return removed, last
}

// numSubscribers returns how many clients on this node are subscribed to channel.
func (h *hub) numSubscribers(channel string) int {
	s := &h.subs[shardIndex(channel)]
	s.mu.RLock()
	n := 0
	if cs := s.channels[channel]; cs != nil {
		n = len(cs.subs)
	}
	s.mu.RUnlock()
	return n
}

// channels calls fn for each channel with its number of subscribers.
func (h *hub) channels(fn func(channel string, n int)) {
	for i := range h.subs {
		s := &h.subs[i]
		s.mu.RLock()
		for ch, cs := range s.channels {
			fn(ch, len(cs.subs))
		}
		s.mu.RUnlock()
	}
}

// subPosition returns the stream position c's subscription sub has reached
// in channel, and false when it is not (or no longer) ready.
func (h *hub) subPosition(channel string, c *Client, sub *clientSub) (StreamPosition, bool) {
	s := &h.subs[shardIndex(channel)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := s.channels[channel]
	if cs == nil || cs.subs[c].sub != sub || !sub.ready.Load() {
		return StreamPosition{}, false
	}
	return StreamPosition{Offset: sub.offset.Load(), Epoch: sub.epoch}, true
}

// startFlushes starts the flushes a broadcast queued: on the caller's
// goroutine when it is the publisher's and they are few, else on flush
// goroutines.
func (h *hub) startFlushes(j *flushJob) {
	if h.onCaller {
		j.startOnCaller()
		return
	}
	j.start()
}

// lostSub is a subscription that missed a publication.
type lostSub struct {
	c   *Client
	sub *clientSub
}

// broadcastPublication sends pub to every ready subscriber of channel,
// encoding it at most once per protocol and kind (plain, full for delta
// subscribers, delta). Subscriptions that track their stream position get
// only the next offset: a gap means they lost state and are handed to
// handleInsufficientState; what they already have is skipped. Clients whose
// queue overflows are disconnected. Both happen outside the shard lock, as
// does starting the subscribers' flushes (one flushJob for all of them).
func (h *hub) broadcastPublication(channel string, pub *Publication, sp StreamPosition, delta bool) error {
	var (
		slow []*Client
		lost []lostSub
	)
	s := &h.subs[shardIndex(channel)]
	s.mu.RLock()
	cs := s.channels[channel]
	if cs == nil {
		s.mu.RUnlock()
		return nil
	}
	// The flushes this broadcast has to start are started together once
	// the lock is released.
	flushes := newFlushJob()
	var encErr error
	enc := pubEncoding{channel: channel, pub: pub, delta: delta}
	if cs.numDelta > 0 {
		enc.prev = cs.prev.Swap(pub)
	}
	for c, e := range cs.subs {
		if !e.ready {
			if e.sub.buffering {
				e.sub.buffer(pub, sp.Epoch)
			}
			continue
		}
		kind := encPlain
		if e.flags != 0 || e.tf != nil {
			sub := e.sub
			if e.flags&subPositioned != 0 && pub.Offset > 0 {
				last := sub.offset.Load()
				if sp.Epoch != sub.epoch || pub.Offset != last+1 {
					if sp.Epoch == sub.epoch && pub.Offset <= last {
						continue // delivered with the subscribe reply
					}
					if sub.lost.CompareAndSwap(false, true) {
						lost = append(lost, lostSub{c, sub})
					}
					continue
				}
				sub.offset.Store(pub.Offset)
			}
			if e.tf != nil && !filterMatch(e.tf, pub.Tags) {
				continue
			}
			if e.flags&subDelta != 0 {
				if delta && enc.prev != nil && sub.deltaReady.Load() {
					kind = encDelta
				} else {
					kind = encDeltaFull
					sub.deltaReady.Store(true)
				}
			}
		}
		pi := protoIndex(c.proto)
		data := enc.data[pi][kind]
		if data == nil {
			if data, encErr = enc.get(c.proto, kind); encErr != nil {
				break
			}
		}
		ok, start := c.w.enqueueNoFlush(data)
		if !ok {
			slow = append(slow, c)
		} else if start {
			flushes.add(c.w)
		}
	}
	s.mu.RUnlock()
	h.startFlushes(flushes)
	for _, c := range slow {
		c.closeSlow()
	}
	for _, l := range lost {
		go l.c.handleInsufficientState(channel, l.sub)
	}
	return encErr
}

// broadcastJoinLeave sends a join or leave push to the ready subscribers of
// channel that asked for them, encoded once per protocol.
func (h *hub) broadcastJoinLeave(channel string, push *protocol.Push) error {
	var (
		jsonBytes, protoBytes []byte
		slow                  []*Client
	)
	reply := &protocol.Reply{Push: push}
	s := &h.subs[shardIndex(channel)]
	s.mu.RLock()
	cs := s.channels[channel]
	if cs == nil {
		s.mu.RUnlock()
		return nil
	}
	flushes := newFlushJob()
	var encErr error
	for c, e := range cs.subs {
		if !e.ready || e.flags&subPushJoinLeave == 0 {
			continue
		}
		var data []byte
		if c.proto == protocol.TypeProtobuf {
			if protoBytes == nil {
				if protoBytes, encErr = protocol.DefaultProtobufReplyEncoder.Encode(reply); encErr != nil {
					break
				}
			}
			data = protoBytes
		} else {
			if jsonBytes == nil {
				if jsonBytes, encErr = protocol.DefaultJsonReplyEncoder.Encode(reply); encErr != nil {
					break
				}
			}
			data = jsonBytes
		}
		ok, start := c.w.enqueueNoFlush(data)
		if !ok {
			slow = append(slow, c)
		} else if start {
			flushes.add(c.w)
		}
	}
	s.mu.RUnlock()
	h.startFlushes(flushes)
	for _, c := range slow {
		c.closeSlow()
	}
	return encErr
}
