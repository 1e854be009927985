package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/node"
)

// AddPresence implements node.PresenceManager. The entry expires ttl from
// now (never when ttl is 0); expired entries are dropped by the next read.
func (e *Engine) AddPresence(ctx context.Context, channel, client string, info *node.ClientInfo, ttl time.Duration) error {
	if info == nil {
		return errors.New("redis: nil client info")
	}
	body, err := infoToProto(info).MarshalVT()
	if err != nil {
		return fmt.Errorf("redis: encode client info: %w", err)
	}
	expireAt := "+inf"
	if ttl > 0 {
		expireAt = strconv.FormatInt(time.Now().Add(ttl).UnixMilli(), 10)
	}
	s := e.shardFor(channel)
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	keys := []string{s.key("presence.data", channel), s.key("presence.expire", channel)}
	err = e.presenceAddScript.Exec(ctx, s.client, keys, []string{client, bytesString(body), expireAt, millis(ttl)}).Error()
	return s.wrap("add presence", err)
}

// RemovePresence implements node.PresenceManager.
func (e *Engine) RemovePresence(ctx context.Context, channel, client, user string) error {
	s := e.shardFor(channel)
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	keys := []string{s.key("presence.data", channel), s.key("presence.expire", channel)}
	return s.wrap("remove presence", e.presenceRemoveScript.Exec(ctx, s.client, keys, []string{client}).Error())
}

// Presence implements node.PresenceManager.
func (e *Engine) Presence(ctx context.Context, channel string) (map[string]*node.ClientInfo, error) {
	s := e.shardFor(channel)
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	keys := []string{s.key("presence.data", channel), s.key("presence.expire", channel)}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	reply, err := e.presenceGetScript.Exec(ctx, s.client, keys, []string{now, "all"}).ToArray()
	if err != nil {
		return nil, s.wrap("presence", err)
	}
	out := make(map[string]*node.ClientInfo, len(reply)/2)
	for i := 0; i+1 < len(reply); i += 2 {
		client, err := reply[i].ToString()
		if err != nil {
			return nil, fmt.Errorf("redis presence: client id: %w", err)
		}
		info, err := decodeInfo(reply[i+1].ToString())
		if err != nil {
			return nil, fmt.Errorf("redis presence of %q: %w", channel, err)
		}
		out[client] = info
	}
	return out, nil
}

// PresenceStats implements node.PresenceManager.
func (e *Engine) PresenceStats(ctx context.Context, channel string) (node.PresenceStats, error) {
	s := e.shardFor(channel)
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	keys := []string{s.key("presence.data", channel), s.key("presence.expire", channel)}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	reply, err := e.presenceGetScript.Exec(ctx, s.client, keys, []string{now, "values"}).ToArray()
	if err != nil {
		return node.PresenceStats{}, s.wrap("presence stats", err)
	}
	users := make(map[string]struct{}, len(reply))
	for _, v := range reply {
		info, err := decodeInfo(v.ToString())
		if err != nil {
			return node.PresenceStats{}, fmt.Errorf("redis presence stats of %q: %w", channel, err)
		}
		users[info.User] = struct{}{}
	}
	return node.PresenceStats{NumClients: len(reply), NumUsers: len(users)}, nil
}

func decodeInfo(s string, err error) (*node.ClientInfo, error) {
	if err != nil {
		return nil, err
	}
	var ci protocol.ClientInfo
	if err := ci.UnmarshalVT(stringBytes(s)); err != nil {
		return nil, err
	}
	return infoFromProto(&ci), nil
}
