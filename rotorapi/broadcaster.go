package rotorapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is the JSON form of an application event on its channels:
// {"event": "cinema.tickets.reserved", "data": {...}}. Clients tell events
// apart by name.
type Envelope struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Broadcaster publishes application events to channels, each as an
// Envelope in one Broadcast call (what the broadcast driver of Spiral does:
// one call per message, to all of its topics). It is safe for concurrent
// use.
type Broadcaster struct {
	c    *Client
	opts broadcastOptions
}

// BroadcasterOption configures a Broadcaster.
type BroadcasterOption interface {
	apply(*broadcastOptions)
}

type broadcastOptionFunc func(*broadcastOptions)

func (f broadcastOptionFunc) apply(o *broadcastOptions) { f(o) }

type broadcastOptions struct {
	skipHistory bool
	tags        map[string]string
	prefix      string
}

// BroadcastSkipHistory keeps the events out of the channels' history.
func BroadcastSkipHistory() BroadcasterOption {
	return broadcastOptionFunc(func(o *broadcastOptions) { o.skipHistory = true })
}

// BroadcastTags sends tags with every event.
func BroadcastTags(tags map[string]string) BroadcasterOption {
	return broadcastOptionFunc(func(o *broadcastOptions) { o.tags = tags })
}

// BroadcastChannelPrefix prefixes every channel name, such as a namespace
// ("app:").
func BroadcastChannelPrefix(prefix string) BroadcasterOption {
	return broadcastOptionFunc(func(o *broadcastOptions) { o.prefix = prefix })
}

// NewBroadcaster returns a Broadcaster that publishes through c.
func NewBroadcaster(c *Client, opts ...BroadcasterOption) *Broadcaster {
	b := &Broadcaster{c: c}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&b.opts)
		}
	}
	return b
}

// Broadcast publishes the event name with data (encoded with encoding/json;
// a json.RawMessage is used as it is, nil leaves data out) to every channel,
// in one call. It fails when the call fails or when any channel refused the
// publication; the error then joins the failures of each channel, and an
// *Error in it is found with errors.As.
func (b *Broadcaster) Broadcast(ctx context.Context, event string, data any, channels ...string) error {
	if len(channels) == 0 {
		return errors.New("rotorapi: broadcast: no channels")
	}
	if event == "" {
		return errors.New("rotorapi: broadcast: empty event name")
	}
	env := Envelope{Event: event}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("rotorapi: broadcast %q: encoding data: %w", event, err)
		}
		env.Data = raw
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("rotorapi: broadcast %q: %w", event, err)
	}
	names := channels
	if b.opts.prefix != "" {
		names = make([]string, len(channels))
		for i, ch := range channels {
			names[i] = b.opts.prefix + ch
		}
	}
	res, err := b.c.Broadcast(ctx, BroadcastRequest{Channels: names, Data: payload, SkipHistory: b.opts.skipHistory, Tags: b.opts.tags})
	if err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("rotorapi: broadcast %q: %w", event, err)
	}
	return nil
}
