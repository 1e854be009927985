package redis

import (
	"context"
	"errors"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
)

// ErrPubSubDown is returned by Subscribe while a shard's PUB/SUB connection
// is being re-established.
var ErrPubSubDown = errors.New("redis: PUB/SUB connection unavailable")

// startWorkers starts the goroutines that hand PUB/SUB messages to the
// node.
func (s *shard) startWorkers() {
	e := s.e
	for _, q := range s.workers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				select {
				case <-e.closing:
					return
				case m := <-q:
					if err := e.handleMessage(m.Channel, m.Message); err != nil {
						e.log.Error("redis: handling a PUB/SUB message", "channel", m.Channel, "error", err)
					}
				}
			}
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			select {
			case <-e.closing:
				return
			case m := <-s.control:
				if err := e.handler.HandleControl([]byte(m.Message)); err != nil {
					e.log.Error("redis: handling a control message", "error", err)
				}
			}
		}
	}()
}

// dispatch runs on the connection's read loop: it queues m for its worker
// without blocking.
func (s *shard) dispatch(m rueidis.PubSubMessage) {
	q := s.control
	if m.Channel != s.e.controlChannel {
		q = s.workers[workerIndex(m.Channel, len(s.workers))]
	}
	select {
	case q <- m:
	default:
		s.e.logDrop(m.Channel)
	}
}

func (e *Engine) logDrop(channel string) {
	n := e.dropped.Add(1)
	now := time.Now().UnixNano()
	last := e.lastDropLog.Load()
	if now-last > int64(time.Second) && e.lastDropLog.CompareAndSwap(last, now) {
		e.log.Warn("redis: PUB/SUB worker queue full, message dropped", "channel", channel, "dropped_total", n)
	}
}

// runPubSub keeps the shard's PUB/SUB connection up until the engine
// closes. The result of the first attempt goes to started. A broken
// connection is dialled again after reconnectDelay, doubling up to
// maxReconnectDelay while the attempts fail.
func (s *shard) runPubSub(started chan<- error) {
	first := true
	delay := reconnectDelay
	var failingSince, lastLog time.Time
	for {
		up := false
		err := s.pubSubSession(func(err error) {
			if first {
				first = false
				started <- err
			}
			if err == nil {
				up = true
				if !failingSince.IsZero() {
					s.e.log.Info("redis: PUB/SUB connection re-established", "shard", s.index, "addr", s.name, "down_for", time.Since(failingSince).Round(time.Millisecond))
					failingSince = time.Time{}
				}
			}
		})
		select {
		case <-s.e.closing:
			return
		default:
		}
		now := time.Now()
		if up {
			delay = reconnectDelay
			failingSince, lastLog = now, now
			s.e.log.Error("redis: PUB/SUB connection lost, reconnecting", "shard", s.index, "addr", s.name, "error", err)
		} else {
			delay = min(2*delay, maxReconnectDelay)
			if failingSince.IsZero() {
				failingSince = now
			}
			if now.Sub(lastLog) >= 10*time.Second {
				lastLog = now
				s.e.log.Warn("redis: PUB/SUB connection still down", "shard", s.index, "addr", s.name, "down_for", now.Sub(failingSince).Round(time.Millisecond), "error", err)
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-s.e.closing:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pubSubSession runs one PUB/SUB connection: it subscribes to the control
// channel, publishes the connection for Subscribe and Unsubscribe,
// resubscribes to every wanted channel, and waits until the connection
// breaks or the engine closes. ready gets the outcome of the setup.
func (s *shard) pubSubSession(ready func(error)) error {
	conn, release := s.client.Dedicate()
	defer release()
	wait := conn.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: s.dispatch})
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), s.ioTimeout)
	err := conn.Do(ctx, conn.B().Subscribe().Channel(s.e.controlChannel).Build()).Error()
	cancel()
	if err != nil {
		ready(err)
		return err
	}

	s.mu.Lock()
	s.conn = conn
	channels := make([]string, 0, len(s.channels))
	for ch := range s.channels {
		channels = append(channels, ch)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()

	for len(channels) > 0 {
		n := min(len(channels), subscribeBatch)
		ctx, cancel := context.WithTimeout(context.Background(), s.ioTimeout)
		err := conn.Do(ctx, conn.B().Subscribe().Channel(channels[:n]...).Build()).Error()
		cancel()
		if err != nil {
			ready(err)
			return err
		}
		channels = channels[n:]
	}
	ready(nil)

	select {
	case err := <-wait:
		if err == nil {
			err = errors.New("connection closed")
		}
		return err
	case <-s.e.closing:
		return nil
	}
}

// Subscribe implements node.Broker: it subscribes this node's PUB/SUB
// connection of channel's shard to the channel and returns once Redis has
// confirmed, so that nothing published afterwards is missed. It fails while
// the connection is being re-established.
func (e *Engine) Subscribe(channel string) error {
	s := e.shardFor(channel)
	rc := e.clientPrefix + channel
	s.mu.Lock()
	s.channels[rc] = struct{}{}
	conn := s.conn
	if conn == nil {
		delete(s.channels, rc)
		s.mu.Unlock()
		return ErrPubSubDown
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.ioTimeout)
	defer cancel()
	if err := conn.Do(ctx, conn.B().Subscribe().Channel(rc).Build()).Error(); err != nil {
		s.mu.Lock()
		delete(s.channels, rc)
		s.mu.Unlock()
		return s.wrap("subscribe", err)
	}
	return nil
}

// Unsubscribe implements node.Broker.
func (e *Engine) Unsubscribe(channel string) error {
	s := e.shardFor(channel)
	rc := e.clientPrefix + channel
	s.mu.Lock()
	delete(s.channels, rc)
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		// Not subscribed on a new connection either: it is gone from the
		// channels to resubscribe.
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.ioTimeout)
	defer cancel()
	return s.wrap("unsubscribe", conn.Do(ctx, conn.B().Unsubscribe().Channel(rc).Build()).Error())
}

// stringBytes returns the bytes of s without copying; they must not be
// modified.
func stringBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
