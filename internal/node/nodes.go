package node

import (
	"context"
	"sync"
	"time"
)

// Nodes announce themselves to each other over the control channel every
// nodeInfoInterval; a node not heard of for nodeInfoTTL is taken as gone.
// The info API lists this node and every live one.
var (
	nodeInfoInterval = 3 * time.Second
	nodeInfoTTL      = 3 * nodeInfoInterval
)

const controlNodeInfo = "node"

// nodeRegistry keeps the last info other nodes sent.
type nodeRegistry struct {
	mu    sync.Mutex
	nodes map[string]nodeSeen
}

type nodeSeen struct {
	info NodeInfo
	at   time.Time
}

func (r *nodeRegistry) add(info NodeInfo, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nodes == nil {
		r.nodes = make(map[string]nodeSeen)
	}
	r.nodes[info.UID] = nodeSeen{info: info, at: now}
}

// live returns the nodes heard of within nodeInfoTTL, forgetting the others.
func (r *nodeRegistry) live(now time.Time) []NodeInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]NodeInfo, 0, len(r.nodes))
	for uid, s := range r.nodes {
		if now.Sub(s.at) > nodeInfoTTL {
			delete(r.nodes, uid)
			continue
		}
		out = append(out, s.info)
	}
	return out
}

// localInfo describes this node.
func (n *Node) localInfo() NodeInfo {
	clients, users := n.hub.counts()
	var channels, subs int
	n.hub.channels(func(_ string, num int) {
		channels++
		subs += num
	})
	return NodeInfo{
		UID:         n.uid,
		Name:        n.name,
		Version:     Version,
		NumClients:  uint32(clients),
		NumUsers:    uint32(users),
		NumChannels: uint32(channels),
		NumSubs:     uint32(subs),
		Uptime:      uint32(time.Since(n.startedAt) / time.Second),
	}
}

// announce sends this node's info to the others until the node stops.
func (n *Node) announce() {
	t := time.NewTicker(nodeInfoInterval)
	defer t.Stop()
	for {
		info := n.localInfo()
		ctx, cancel := context.WithTimeout(context.Background(), nodeInfoInterval)
		if err := n.publishControl(ctx, &controlMessage{Op: controlNodeInfo, Node: &info}); err != nil {
			n.log.Debug("node info not sent", "error", err)
		}
		cancel()
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}
