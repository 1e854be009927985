package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/internal/node"
)

// PUB/SUB payload markers of P.client.<ch> messages.
const (
	pubMarker   = "__p1:" // __p1:<offset>:<epoch>__<protobuf Publication>
	joinMarker  = "__j__" // __j__<protobuf ClientInfo>
	leaveMarker = "__l__" // __l__<protobuf ClientInfo>
)

// Publish implements node.Broker. With history the publication is added to
// the stream and published by one Lua script; without history and
// idempotency key it is a plain PUBLISH. A publication's delta flag travels
// in the protobuf's Delta field and is cleared on receipt.
func (e *Engine) Publish(ctx context.Context, channel string, data []byte, opts node.PublishOptions) (node.StreamPosition, error) {
	s := e.shardFor(channel)
	pp := &protocol.Publication{Data: data, Tags: opts.Tags, Delta: opts.Delta}
	if opts.ClientInfo != nil {
		pp.Info = infoToProto(opts.ClientInfo)
	}
	body, err := pp.MarshalVT()
	if err != nil {
		return node.StreamPosition{}, fmt.Errorf("redis: encode publication: %w", err)
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()

	withHistory := opts.HistorySize > 0 && opts.HistoryTTL > 0 && !opts.SkipHistory
	if !withHistory && opts.IdempotencyKey == "" {
		msg := make([]byte, 0, len(pubMarker)+3+len(body))
		msg = append(msg, pubMarker+"0:__"...)
		msg = append(msg, body...)
		return node.StreamPosition{}, s.wrap("publish", e.publishRaw(ctx, s, channel, bytesString(msg)))
	}

	size, historyTTL, metaTTL := "0", "0", "0"
	if withHistory {
		size = strconv.Itoa(opts.HistorySize)
		historyTTL = millis(opts.HistoryTTL)
		metaTTL = millis(opts.HistoryMetaTTL)
	}
	resultTTL := ""
	if opts.IdempotencyKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = node.IdempotentResultTTL
		}
		resultTTL = millis(ttl)
	}
	keys := []string{
		s.key("stream", channel),
		s.key("stream.meta", channel),
		s.key("result", channel) + "." + opts.IdempotencyKey,
	}
	args := []string{bytesString(body), size, historyTTL, metaTTL, newEpoch(), e.clientPrefix + channel, resultTTL}
	reply, err := e.publishScript.Exec(ctx, s.client, keys, args).ToArray()
	if err != nil {
		return node.StreamPosition{}, s.wrap("publish", err)
	}
	if len(reply) != 3 {
		return node.StreamPosition{}, fmt.Errorf("redis publish: reply of %d elements, want 3", len(reply))
	}
	return position(reply[0], reply[1])
}

// position decodes an {offset, epoch} script reply.
func position(offsetMsg, epochMsg rueidis.RedisMessage) (node.StreamPosition, error) {
	offset, err := offsetMsg.AsUint64()
	if err != nil {
		return node.StreamPosition{}, fmt.Errorf("redis: offset in reply: %w", err)
	}
	epoch, err := epochMsg.ToString()
	if err != nil {
		return node.StreamPosition{}, fmt.Errorf("redis: epoch in reply: %w", err)
	}
	return node.StreamPosition{Offset: offset, Epoch: epoch}, nil
}

// PublishJoin implements node.Broker.
func (e *Engine) PublishJoin(ctx context.Context, channel string, info *node.ClientInfo) error {
	return e.publishInfo(ctx, channel, joinMarker, info)
}

// PublishLeave implements node.Broker.
func (e *Engine) PublishLeave(ctx context.Context, channel string, info *node.ClientInfo) error {
	return e.publishInfo(ctx, channel, leaveMarker, info)
}

func (e *Engine) publishInfo(ctx context.Context, channel, marker string, info *node.ClientInfo) error {
	if info == nil {
		return errors.New("redis: nil client info")
	}
	body, err := infoToProto(info).MarshalVT()
	if err != nil {
		return fmt.Errorf("redis: encode client info: %w", err)
	}
	s := e.shardFor(channel)
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	return s.wrap("publish "+strings.Trim(marker, "_"), e.publishRaw(ctx, s, channel, marker+bytesString(body)))
}

// publishRaw publishes msg to channel's PUB/SUB channel: a plain PUBLISH,
// or on a Cluster a script run on the channel's node (see
// lua/publish_raw.lua) so that the channel's messages keep their order.
func (e *Engine) publishRaw(ctx context.Context, s *shard, channel, msg string) error {
	if s.cluster {
		return e.publishRawScript.Exec(ctx, s.client, []string{s.key("stream", channel)}, []string{e.clientPrefix + channel, msg}).Error()
	}
	return s.client.Do(ctx, s.client.B().Publish().Channel(e.clientPrefix+channel).Message(msg).Build()).Error()
}

// PublishControl implements node.Broker. Every node listens to the control
// channel on every shard; messages go through the first shard, so that
// they keep their order, and through the next ones only while it fails.
func (e *Engine) PublishControl(ctx context.Context, data []byte) error {
	var err error
	for _, s := range e.shards {
		cctx, cancel := s.callContext(ctx)
		err = s.client.Do(cctx, s.client.B().Publish().Channel(e.controlChannel).Message(bytesString(data)).Build()).Error()
		cancel()
		if err == nil {
			return nil
		}
		err = s.wrap("publish control", err)
		if ctx.Err() != nil {
			break
		}
	}
	return err
}

// History implements node.Broker.
func (e *Engine) History(ctx context.Context, channel string, opts node.HistoryOptions) (node.HistoryResult, error) {
	s := e.shardFor(channel)
	include, from, count := "1", "-", "0"
	switch {
	case opts.Limit == 0:
		include = "0"
	case opts.Limit > 0:
		count = strconv.Itoa(opts.Limit)
	}
	sinceEpoch := ""
	if !opts.Reverse {
		if opts.Since != nil {
			from = strconv.FormatUint(opts.Since.Offset+1, 10)
		}
	} else {
		from = "+"
		if opts.Since != nil {
			if opts.Since.Offset <= 1 {
				include = "0" // nothing before the first offset
			} else {
				from = strconv.FormatUint(opts.Since.Offset-1, 10)
			}
		}
	}
	if opts.Since != nil {
		sinceEpoch = opts.Since.Epoch
	}
	reverse := "0"
	if opts.Reverse {
		reverse = "1"
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	keys := []string{s.key("stream", channel), s.key("stream.meta", channel)}
	args := []string{include, from, count, reverse, millis(opts.MetaTTL), newEpoch(), sinceEpoch}
	reply, err := e.historyScript.Exec(ctx, s.client, keys, args).ToArray()
	if err != nil {
		return node.HistoryResult{}, s.wrap("history", err)
	}
	if len(reply) < 2 {
		return node.HistoryResult{}, fmt.Errorf("redis history: reply of %d elements", len(reply))
	}
	sp, err := position(reply[0], reply[1])
	if err != nil {
		return node.HistoryResult{}, err
	}
	if sinceEpoch != "" && sinceEpoch != sp.Epoch {
		return node.HistoryResult{}, node.ErrorUnrecoverablePosition
	}
	res := node.HistoryResult{StreamPosition: sp}
	if len(reply) < 3 {
		return res, nil
	}
	entries, err := reply[2].ToArray()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return res, nil
		}
		return node.HistoryResult{}, fmt.Errorf("redis history: entries: %w", err)
	}
	res.Publications = make([]*node.Publication, 0, len(entries))
	for _, entry := range entries {
		pub, err := decodeEntry(entry)
		if err != nil {
			return node.HistoryResult{}, fmt.Errorf("redis history of %q: %w", channel, err)
		}
		res.Publications = append(res.Publications, pub)
	}
	return res, nil
}

// decodeEntry decodes a stream entry: [ID "<offset>-0", [field, value...]]
// with the publication in field d.
func decodeEntry(entry rueidis.RedisMessage) (*node.Publication, error) {
	parts, err := entry.ToArray()
	if err != nil || len(parts) != 2 {
		return nil, fmt.Errorf("malformed stream entry (%v)", err)
	}
	id, err := parts[0].ToString()
	if err != nil {
		return nil, fmt.Errorf("stream entry ID: %w", err)
	}
	dash := strings.IndexByte(id, '-')
	if dash <= 0 {
		return nil, fmt.Errorf("stream entry ID %q", id)
	}
	offset, err := strconv.ParseUint(id[:dash], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("stream entry ID %q: %w", id, err)
	}
	fields, err := parts[1].ToArray()
	if err != nil {
		return nil, fmt.Errorf("stream entry fields: %w", err)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if k, _ := fields[i].ToString(); k != "d" {
			continue
		}
		v, err := fields[i+1].ToString()
		if err != nil {
			return nil, fmt.Errorf("stream entry data: %w", err)
		}
		var pp protocol.Publication
		if err := pp.UnmarshalVT(stringBytes(v)); err != nil {
			return nil, fmt.Errorf("stream entry %s: %w", id, err)
		}
		pub := pubFromProto(&pp)
		pub.Offset = offset
		return pub, nil
	}
	return nil, fmt.Errorf("stream entry %s has no data", id)
}

// RemoveHistory implements node.Broker: the stream's publications go, its
// position (meta) stays.
func (e *Engine) RemoveHistory(ctx context.Context, channel string) error {
	s := e.shardFor(channel)
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	return s.wrap("remove history", s.client.Do(ctx, s.client.B().Del().Key(s.key("stream", channel)).Build()).Error())
}

// handleMessage decodes a message of P.client.<ch> and hands it to the
// node.
func (e *Engine) handleMessage(redisChannel, payload string) error {
	channel, ok := strings.CutPrefix(redisChannel, e.clientPrefix)
	if !ok {
		return fmt.Errorf("message on unexpected channel %q", redisChannel)
	}
	switch {
	case strings.HasPrefix(payload, pubMarker):
		header, body, ok := strings.Cut(payload[len(pubMarker):], "__")
		if !ok {
			return errors.New("malformed publication header")
		}
		offsetStr, epoch, ok := strings.Cut(header, ":")
		if !ok {
			return errors.New("malformed publication header")
		}
		offset, err := strconv.ParseUint(offsetStr, 10, 64)
		if err != nil {
			return fmt.Errorf("publication offset: %w", err)
		}
		var pp protocol.Publication
		if err := pp.UnmarshalVT(stringBytes(body)); err != nil {
			return fmt.Errorf("publication: %w", err)
		}
		delta := pp.Delta
		pub := pubFromProto(&pp)
		pub.Offset = offset
		return e.handler.HandlePublication(channel, pub, node.StreamPosition{Offset: offset, Epoch: epoch}, delta)
	case strings.HasPrefix(payload, joinMarker), strings.HasPrefix(payload, leaveMarker):
		var ci protocol.ClientInfo
		if err := ci.UnmarshalVT(stringBytes(payload[len(joinMarker):])); err != nil {
			return fmt.Errorf("client info: %w", err)
		}
		if strings.HasPrefix(payload, joinMarker) {
			return e.handler.HandleJoin(channel, infoFromProto(&ci))
		}
		return e.handler.HandleLeave(channel, infoFromProto(&ci))
	default:
		return errors.New("unknown message type")
	}
}

func infoToProto(ci *node.ClientInfo) *protocol.ClientInfo {
	return &protocol.ClientInfo{User: ci.User, Client: ci.Client, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo}
}

func infoFromProto(ci *protocol.ClientInfo) *node.ClientInfo {
	return &node.ClientInfo{User: ci.User, Client: ci.Client, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo}
}

func pubFromProto(pp *protocol.Publication) *node.Publication {
	pub := &node.Publication{Offset: pp.Offset, Data: pp.Data, Tags: pp.Tags}
	if pp.Info != nil {
		pub.Info = infoFromProto(pp.Info)
	}
	return pub
}

// millis renders d in whole milliseconds for PEXPIRE, rounding a positive
// d below 1ms up to 1; zero or negative gives "0".
func millis(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

// epochAlphabet keeps epochs readable and safe in keys, headers and URLs.
const epochAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newEpoch returns a random epoch for a stream that a call may create.
func newEpoch() string {
	var b [8]byte
	r := rand.Uint64()
	for i := range b {
		b[i] = epochAlphabet[r%uint64(len(epochAlphabet))]
		r /= uint64(len(epochAlphabet))
	}
	return string(b[:])
}

// bytesString returns b as a string without copying; b must not change
// afterwards.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
