package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// faultPublishBound is how long one API publish may take, Redis down or
// not: a publish must fail fast rather than hang.
const faultPublishBound = 2 * time.Second

// faultOutage is how long Redis stays down.
const faultOutage = 1500 * time.Millisecond

// faultSub records what one subscriber received.
type faultSub struct {
	name string
	c    *goClient

	mu         sync.Mutex
	seqs       []int
	bad        []string
	subscribed int
	recovered  int
	recovering int
	resubs     []uint32 // codes of the subscribing events (resubscribes)
	unsubs     []uint32
}

func (s *faultSub) received() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seqs)
}

// publishOutcome is how the API answered one publish.
type publishOutcome int

const (
	outcomeAccepted  publishOutcome = iota
	outcomeFailed                   // an error reply (100 while Redis is down)
	outcomeUncertain                // a transport error or timeout: it may have been
)

// TestFaultRedisRestart restarts redis-server (which keeps its data in an
// append-only file, synced on every write) while the server API publishes
// to subscribers with recovery on, on two nodes. Publishes fail fast while
// Redis is down and /health follows Redis's state; once Redis is back every
// subscriber ends with every accepted publication exactly once and in
// order, the ones its node missed live recovered from history.
//
// In "steady" the stream goes on after the restart, so the next
// publication a node gets shows the gap in offsets. In "quiet" Redis is
// killed and the stream stops a few publications after the restart, most
// likely before the nodes' PUB/SUB connections are back: nothing more
// arrives to show the gap, so the position checks must find it.
func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	t.Run("steady", func(t *testing.T) {
		t.Parallel()
		runRedisFault(t, false, 100)
	})
	t.Run("quiet", func(t *testing.T) {
		t.Parallel()
		runRedisFault(t, true, 5)
	})
}

// runRedisFault runs TestFaultRedisRestart: Redis is stopped (killed when
// kill is set) during the stream, started again, and after more
// publications the stream stops.
func runRedisFault(t *testing.T, kill bool, after int) {
	redis := testutil.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	secret := testutil.RandomString(t, 24)
	prefix := "rotor-fault-" + testutil.RandomString(t, 8)
	var nodes []*testutil.Server
	for i := 0; i < 2; i++ {
		nodes = append(nodes, testutil.RunServer(t, func(c *config.Config) {
			c.Name = fmt.Sprintf("fault-%c", 'a'+i)
			c.Engine = "redis"
			c.RedisAddress = []string{redis.URL()}
			c.RedisPrefix = prefix
			c.TokenHMACSecretKey = secret
			c.ClientChannelPositionCheckDelay = time.Second
			c.Namespaces = []config.Namespace{{Name: "stream", ChannelOptions: config.ChannelOptions{
				AllowSubscribeForClient: true,
				HistorySize:             10000,
				HistoryTTL:              5 * time.Minute,
				ForceRecovery:           true,
			}}}
		}))
	}
	const channel = "stream:fault"

	// Two subscribers per node, one per protocol.
	var subs []*faultSub
	for i, srv := range nodes {
		for _, p := range protocols {
			name := fmt.Sprintf("node-%c/%s", 'a'+i, p.name)
			c, _ := connectAs(t, p, srv, "user-"+name)
			fs := &faultSub{name: name, c: c}
			s := c.newSub(channel, centrifuge.SubscriptionConfig{})
			s.OnPublication(func(e centrifuge.PublicationEvent) {
				var d struct {
					Seq *int `json:"seq"`
				}
				fs.mu.Lock()
				defer fs.mu.Unlock()
				if err := json.Unmarshal(e.Data, &d); err != nil || d.Seq == nil {
					fs.bad = append(fs.bad, string(e.Data))
					return
				}
				fs.seqs = append(fs.seqs, *d.Seq)
			})
			s.OnSubscribed(func(e centrifuge.SubscribedEvent) {
				fs.mu.Lock()
				fs.subscribed++
				if e.WasRecovering {
					fs.recovering++
				}
				if e.Recovered {
					fs.recovered++
				}
				fs.mu.Unlock()
				push(s.subscribed, e)
			})
			s.OnSubscribing(func(e centrifuge.SubscribingEvent) {
				fs.mu.Lock()
				fs.resubs = append(fs.resubs, e.Code)
				fs.mu.Unlock()
			})
			s.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) {
				fs.mu.Lock()
				fs.unsubs = append(fs.unsubs, e.Code)
				fs.mu.Unlock()
			})
			if err := s.Subscribe(); err != nil {
				t.Fatalf("subscribe %s: %v", name, err)
			}
			ev := wait.Receive(t, s.subscribed, "subscribed event of "+name)
			if !ev.Recoverable || !ev.Positioned {
				t.Fatalf("%s: subscription is not recoverable and positioned: %+v", name, ev)
			}
			subs = append(subs, fs)
		}
	}

	api := nodes[0]
	httpc := &http.Client{Timeout: faultPublishBound + time.Second}
	publish := func(seq int) (publishOutcome, string) {
		body, _ := json.Marshal(map[string]any{"channel": channel, "data": map[string]any{"seq": seq}})
		req, err := http.NewRequest(http.MethodPost, api.URL+"/api/publish", bytes.NewReader(body))
		if err != nil {
			t.Errorf("publish request: %v", err)
			return outcomeUncertain, err.Error()
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", api.Config.APIKey)
		resp, err := httpc.Do(req)
		if err != nil {
			return outcomeUncertain, err.Error()
		}
		defer resp.Body.Close()
		var reply struct {
			Error *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != http.StatusOK {
			return outcomeUncertain, fmt.Sprintf("status %d, decode error %v", resp.StatusCode, err)
		}
		if reply.Error != nil {
			return outcomeFailed, fmt.Sprintf("error %d %s", reply.Error.Code, reply.Error.Message)
		}
		return outcomeAccepted, ""
	}
	health := func(srv *testutil.Server) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The publisher: one publish every 15ms until stop is closed.
	var (
		pmu           sync.Mutex
		outcomes      = map[int]publishOutcome{}
		failures      = map[string]int{}
		slowest       time.Duration
		numFailed     int
		nextSeq       int
		stop          = make(chan struct{})
		publisherDone = make(chan struct{})
	)
	failedCount := func() int {
		pmu.Lock()
		defer pmu.Unlock()
		return numFailed
	}
	go func() {
		defer close(publisherDone)
		tick := time.NewTicker(15 * time.Millisecond)
		defer tick.Stop()
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			out, msg := publish(seq)
			took := time.Since(start)
			pmu.Lock()
			outcomes[seq] = out
			nextSeq = seq + 1
			slowest = max(slowest, took)
			if out != outcomeAccepted {
				numFailed++
				failures[msg]++
			}
			pmu.Unlock()
			if took > faultPublishBound {
				t.Errorf("publish %d took %v (> %v): %s", seq, took, faultPublishBound, msg)
			}
		}
	}()
	stopPublisher := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-publisherDone
	}
	t.Cleanup(stopPublisher)

	// Some publications before the fault.
	wait.CheckFor(t, wait.Timeout, 20*time.Millisecond, func() error {
		for _, s := range subs {
			if n := len(s.received()); n < 30 {
				return fmt.Errorf("%s received %d publications before the fault", s.name, n)
			}
		}
		return nil
	})

	// Redis goes down: publishes fail (fast), /health answers 503.
	downAt := time.Now()
	if kill {
		redis.Kill()
	} else {
		redis.Stop()
	}
	wait.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		for _, srv := range nodes {
			if code := health(srv); code != http.StatusServiceUnavailable {
				return fmt.Errorf("/health of %s = %d while Redis is down, want 503", srv.Config.Name, code)
			}
		}
		if n := failedCount(); n < 10 {
			return fmt.Errorf("%d publishes failed while Redis is down, want at least 10", n)
		}
		// Keep Redis down long enough for the PUB/SUB redial to back off.
		if d := time.Since(downAt); d < faultOutage {
			return fmt.Errorf("Redis down for %v of %v", d, faultOutage)
		}
		return nil
	})
	redis.Start()
	t.Logf("redis was down for %v", time.Since(downAt).Round(time.Millisecond))
	wait.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		for _, srv := range nodes {
			if code := health(srv); code != http.StatusOK {
				return fmt.Errorf("/health of %s = %d after Redis is back, want 200", srv.Config.Name, code)
			}
		}
		return nil
	})

	// Publish more with Redis back, then stop.
	pmu.Lock()
	backAt := nextSeq
	pmu.Unlock()
	wait.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		pmu.Lock()
		defer pmu.Unlock()
		if nextSeq < backAt+after {
			return fmt.Errorf("%d publishes since Redis is back", nextSeq-backAt)
		}
		return nil
	})
	stopPublisher()

	pmu.Lock()
	var accepted, failed, uncertain []int
	for seq := 1; seq < nextSeq; seq++ {
		switch outcomes[seq] {
		case outcomeAccepted:
			accepted = append(accepted, seq)
		case outcomeFailed:
			failed = append(failed, seq)
		case outcomeUncertain:
			uncertain = append(uncertain, seq)
		}
	}
	t.Logf("publishes: %d accepted, %d failed, %d uncertain (transport error); slowest call %v; failures %v",
		len(accepted), len(failed), len(uncertain), slowest.Round(time.Millisecond), failures)
	pmu.Unlock()
	if len(failed)+len(uncertain) == 0 {
		t.Fatal("no publish failed while Redis was down")
	}

	// The channel's history is what Redis actually published. It holds
	// every accepted publication. It may also hold a publish the API
	// reported as failed: one whose command reached Redis as it was shutting
	// down, the connection closing before the reply (an EOF, like a
	// timeout, leaves the outcome unknown, and error 100 cannot tell it from
	// a refused connection). Those are counted, and must be few.
	hist := api.APIResult(t, "history", map[string]any{"channel": channel, "limit": -1})
	pubsList, _ := hist["publications"].([]any)
	var stream []int
	for _, p := range pubsList {
		m, _ := p.(map[string]any)
		data, _ := m["data"].(map[string]any)
		seq, ok := data["seq"].(float64)
		if !ok {
			t.Fatalf("history publication without a sequence number: %v", m)
		}
		stream = append(stream, int(seq))
	}
	t.Logf("history: %d publications, stream top offset %v epoch %v", len(stream), hist["offset"], hist["epoch"])
	if !slices.IsSorted(stream) {
		t.Fatalf("history is not in publish order: %v", stream)
	}
	inStream := map[int]bool{}
	for _, seq := range stream {
		inStream[seq] = true
	}
	var lost []int
	for _, seq := range accepted {
		if !inStream[seq] {
			lost = append(lost, seq)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("accepted publishes missing from history: %v", lost)
	}
	isAccepted := map[int]bool{}
	for _, seq := range accepted {
		isAccepted[seq] = true
	}
	maybe := map[int]bool{}
	for _, seq := range stream {
		if !isAccepted[seq] {
			maybe[seq] = true
		}
	}
	t.Logf("failed publishes that Redis did publish (outcome unknown to the API): %d %v", len(maybe), slices.Sorted(maps.Keys(maybe)))
	if len(maybe) > 4 {
		t.Errorf("%d failed publishes are in history, want at most the few in flight as Redis shut down", len(maybe))
	}

	// Every subscriber ends with exactly the stream: every accepted
	// publication, once, in order, and nothing that was not published.
	check := func(s *faultSub) error {
		if got := s.received(); !slices.Equal(got, stream) {
			return fmt.Errorf("%s: %s", s.name, describeSeqs(got, accepted, maybe))
		}
		return nil
	}
	wait.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		var errs []error
		for _, s := range subs {
			errs = append(errs, check(s))
		}
		return errors.Join(errs...)
	})
	for _, s := range subs {
		got := s.received()
		s.mu.Lock()
		t.Logf("%s: received %d (%s); subscribed %d times, %d recovering, %d recovered; subscribing codes %v; unsubscribes %v; reconnects %d",
			s.name, len(got), describeSeqs(got, accepted, maybe), s.subscribed, s.recovering, s.recovered, s.resubs, s.unsubs, len(s.c.connected))
		if len(s.bad) > 0 {
			t.Errorf("%s: publications without a sequence number: %q", s.name, s.bad)
		}
		s.mu.Unlock()
	}
}

// describeSeqs counts how got differs from want: publications missing,
// duplicated, out of order, not accepted (outside maybe, failed publishes
// that were published all the same, which are counted apart).
func describeSeqs(got, want []int, maybe map[int]bool) string {
	wanted := map[int]bool{}
	for _, seq := range want {
		wanted[seq] = true
	}
	seen := map[int]int{}
	var dups, disorder, unaccepted, maybes int
	last := 0
	for _, seq := range got {
		seen[seq]++
		if seen[seq] > 1 {
			dups++
		}
		if seq <= last {
			disorder++
		}
		last = max(last, seq)
		if !wanted[seq] {
			if maybe[seq] {
				maybes++
			} else {
				unaccepted++
			}
		}
	}
	var gaps []int
	for _, seq := range want {
		if seen[seq] == 0 {
			gaps = append(gaps, seq)
		}
	}
	s := fmt.Sprintf("%d missing, %d duplicates, %d out of order, %d not accepted, %d failed but published",
		len(gaps), dups, disorder, unaccepted, maybes)
	if len(gaps) > 0 {
		s += fmt.Sprintf(" (missing %v..%v)", gaps[0], gaps[len(gaps)-1])
	}
	return s
}
