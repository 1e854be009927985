package node

import (
	"hash/fnv"
	"sync"

	"github.com/centrifugal/protocol"
)

// numHubShards is how many shards split the hub's maps. A broadcast takes one
// channel shard's read lock only.
const numHubShards = 64

// hub keeps which clients are connected (by user) and which are subscribed to
// which channel (by channel), each sharded by a FNV-1a hash of the key.
type hub struct {
	conns [numHubShards]connShard
	subs  [numHubShards]subShard
}

type connShard struct {
	mu sync.RWMutex
	// users maps user id → client id → client.
	users map[string]map[string]*Client
}

type subShard struct {
	mu sync.RWMutex
	// channels maps channel → client → whether the subscribe reply was sent
	// (publications reach a client only once it was).
	channels map[string]map[*Client]bool
}

func newHub() *hub {
	h := &hub{}
	for i := range h.conns {
		h.conns[i].users = make(map[string]map[string]*Client)
		h.subs[i].channels = make(map[string]map[*Client]bool)
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
	m[c.id] = c
	s.mu.Unlock()
}

func (h *hub) removeConn(c *Client) {
	s := &h.conns[shardIndex(c.user)]
	s.mu.Lock()
	if m := s.users[c.user]; m != nil {
		delete(m, c.id)
		if len(m) == 0 {
			delete(s.users, c.user)
		}
	}
	s.mu.Unlock()
}

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

// addSub adds c to channel's subscribers, not yet ready for publications.
// It reports whether c is the channel's first subscriber on this node.
func (h *hub) addSub(channel string, c *Client) (first bool) {
	s := &h.subs[shardIndex(channel)]
	s.mu.Lock()
	m := s.channels[channel]
	if m == nil {
		m = make(map[*Client]bool)
		s.channels[channel] = m
		first = true
	}
	m[c] = false
	s.mu.Unlock()
	return first
}

// setSubReady queues the subscribe reply (or push) with send and lets
// publications in channel reach c, both under the channel's shard lock: a
// concurrent broadcast is then either before both (the client was not yet
// subscribed) or after both (its publication follows the reply). send
// reports whether the client is still alive.
func (h *hub) setSubReady(channel string, c *Client, send func() bool) bool {
	s := &h.subs[shardIndex(channel)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if send != nil && !send() {
		return false
	}
	if m := s.channels[channel]; m != nil {
		if _, ok := m[c]; ok {
			m[c] = true
		}
	}
	return true
}

// removeSub removes c from channel. It reports whether c was there and
// whether the channel has no subscriber left on this node.
func (h *hub) removeSub(channel string, c *Client) (removed, last bool) {
	s := &h.subs[shardIndex(channel)]
	s.mu.Lock()
	m := s.channels[channel]
	if m != nil {
		if _, removed = m[c]; removed {
			delete(m, c)
		}
		if len(m) == 0 {
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
	n := len(s.channels[channel])
	s.mu.RUnlock()
	return n
}

// channels calls fn for each channel with its number of subscribers.
func (h *hub) channels(fn func(channel string, n int)) {
	for i := range h.subs {
		s := &h.subs[i]
		s.mu.RLock()
		for ch, m := range s.channels {
			fn(ch, len(m))
		}
		s.mu.RUnlock()
	}
}

// broadcast sends reply to every ready subscriber of channel, encoding it at
// most once per protocol. Clients whose queue overflows are disconnected
// (outside the shard lock).
func (h *hub) broadcast(channel string, reply *protocol.Reply) error {
	var (
		jsonBytes, protoBytes []byte
		slow                  []*Client
	)
	s := &h.subs[shardIndex(channel)]
	s.mu.RLock()
	for c, ready := range s.channels[channel] {
		if !ready {
			continue
		}
		var data []byte
		if c.proto == protocol.TypeProtobuf {
			if protoBytes == nil {
				b, err := protocol.DefaultProtobufReplyEncoder.Encode(reply)
				if err != nil {
					s.mu.RUnlock()
					return err
				}
				protoBytes = b
			}
			data = protoBytes
		} else {
			if jsonBytes == nil {
				b, err := protocol.DefaultJsonReplyEncoder.Encode(reply)
				if err != nil {
					s.mu.RUnlock()
					return err
				}
				jsonBytes = b
			}
			data = jsonBytes
		}
		if !c.w.enqueue(data) {
			slow = append(slow, c)
		}
	}
	s.mu.RUnlock()
	for _, c := range slow {
		c.closeSlow()
	}
	return nil
}
