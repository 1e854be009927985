package node

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/glob"
)

// The channels API is cluster-wide: the node that gets the call asks every
// other live node for its channels over the control channel and sums the
// answers. It waits for as many answers as there are live nodes, at most
// surveyTimeout (or the caller's deadline).
const surveyTimeout = 2 * time.Second

const (
	controlChannelsRequest  = "channels_request"
	controlChannelsResponse = "channels_response"
)

// surveys holds the channels requests this node waits answers for.
type surveys struct {
	mu      sync.Mutex
	pending map[string]chan map[string]uint32
}

func (s *surveys) open(id string, n int) chan map[string]uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = make(map[string]chan map[string]uint32)
	}
	ch := make(chan map[string]uint32, n)
	s.pending[id] = ch
	return ch
}

func (s *surveys) close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, id)
}

// deliver hands an answer to the request waiting for it, if any.
func (s *surveys) deliver(id string, channels map[string]uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.pending[id]; ok {
		select {
		case ch <- channels:
		default:
		}
	}
}

// localChannels returns this node's channels matching pattern with their
// number of subscribers.
func (n *Node) localChannels(pattern string) map[string]uint32 {
	out := make(map[string]uint32)
	n.hub.channels(func(ch string, num int) {
		if pattern == "" || glob.Match(pattern, ch) {
			out[ch] = uint32(num)
		}
	})
	return out
}

// Channels lists the active channels of every node matching a glob pattern
// ("" = all; "*" matches any run of characters, "?" one character), with
// the number of clients subscribed to each.
func (n *Node) Channels(ctx context.Context, pattern string) (map[string]ChannelInfo, error) {
	out := make(map[string]ChannelInfo)
	add := func(m map[string]uint32) {
		for ch, num := range m {
			info := out[ch]
			info.NumClients += num
			out[ch] = info
		}
	}
	add(n.localChannels(pattern))
	others := len(n.nodes.live(time.Now()))
	if others == 0 {
		return out, nil
	}
	id := uuid.NewString()
	answers := n.surveys.open(id, others)
	defer n.surveys.close(id)
	if err := n.publishControl(ctx, &controlMessage{Op: controlChannelsRequest, RequestID: id, Pattern: pattern}); err != nil {
		return nil, err
	}
	timer := time.NewTimer(surveyTimeout)
	defer timer.Stop()
	for got := 0; got < others; got++ {
		select {
		case m := <-answers:
			add(m)
		case <-timer.C:
			n.log.Warn("channels: not every node answered in time", "answered", got, "nodes", others+1)
			return out, nil
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}

// answerChannels answers another node's channels request.
func (n *Node) answerChannels(m *controlMessage) {
	ctx, cancel := context.WithTimeout(context.Background(), surveyTimeout)
	defer cancel()
	answer := &controlMessage{
		Op:        controlChannelsResponse,
		RequestID: m.RequestID,
		Target:    m.Origin,
		Channels:  n.localChannels(m.Pattern),
	}
	if err := n.publishControl(ctx, answer); err != nil {
		n.log.Warn("channels: answer not sent", "to", m.Origin, "error", err)
	}
}
