package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Run-wide bounds.
const (
	// closeWorkers bounds the connections closed at once at the end.
	closeWorkers = 64
	// readersExitTimeout bounds the wait for reader goroutines after the
	// connections are closed.
	readersExitTimeout = 5 * time.Second
	// drainPoll is how often the drain checks for late deliveries.
	drainPoll = 10 * time.Millisecond
	// progressEvery is how often long phases log their progress.
	progressEvery = 5 * time.Second
	// maxErrorKinds bounds the distinct errors kept for the summary.
	maxErrorKinds = 8
	// publishGrace is how far a paced run may fall behind its schedule
	// (publish calls slower than Publishers/Rate) before it stops.
	publishGrace = 10 * time.Second
	// fdHeadroom is the number of descriptors kept for things other than
	// client connections when checking the file limit.
	fdHeadroom = 64
)

// Run runs the scenario opts.Scenario against a server, writes its Summary
// to out as one JSON line and returns it.
//
// It fails before connecting anything when the options are invalid, when
// ServerPID names no process it can read, or when a first publish call (to
// the channel <prefix>preflight, which has no subscribers) fails in a
// scenario that publishes. When ctx is cancelled, Run closes its
// connections, writes the summary so far with "interrupted":true and
// returns ctx.Err(). Failed connections and publish calls are counted in
// the summary; only a run in which no connection could be set up returns an
// error (after writing its line), and so does a run whose publisher process
// (Options.PublisherProcess) failed.
//
// Started with the hidden --publisher-child flag, Run is instead the
// publisher process of another Run: it connects nothing, makes that run's
// publish calls and writes their counts and latencies to out as one JSON
// line, returning a zero Summary.
func Run(ctx context.Context, opts Options, out io.Writer) (Summary, error) {
	if opts.publisherChild != "" {
		return Summary{}, runPublisherChild(ctx, opts.publisherChild, opts.Logger, out)
	}
	o, err := opts.normalized()
	if err != nil {
		return Summary{}, err
	}
	r := &runner{
		o:       o,
		log:     o.Logger,
		dialers: newDialers(&o),
		binary:  o.Protocol == ProtocolProtobuf,
		latency: &histogram{},
		closes:  map[string]int{},
		errs:    map[string]int{},
	}
	if limit, err := raiseFileLimit(); err != nil {
		r.log.Warn("could not raise the open file limit", "error", err)
	} else if limit != 0 && uint64(o.Connections)+fdHeadroom > limit {
		r.log.Warn("open file limit is below the connection count", "limit", limit, "connections", o.Connections)
	}
	if o.ServerPID != 0 {
		if r.proc, err = newProcStats(o.ServerPID); err != nil {
			return Summary{}, err
		}
	}
	if o.ConnectProxy != "" {
		if r.proxy, err = startConnectProxy(&o, o.proxyListener, r.log); err != nil {
			return Summary{}, err
		}
		defer r.proxy.stop()
	}
	var pub publisher
	if o.publishes() {
		if pub, err = newPublisher(&o); err != nil {
			return Summary{}, err
		}
		defer pub.close()
		if _, err := pub.publish(ctx, nil, o.ChannelPrefix+"preflight", time.Now().UnixNano(), -1); err != nil {
			return Summary{}, fmt.Errorf("bench: first publish call (%s via %s) failed: %w", pub.target(), o.PublishVia, err)
		}
	}

	sum := Summary{Scenario: o.Scenario, Protocol: o.Protocol, Requested: o.Connections}
	runErr := r.run(ctx, pub, &sum)
	sum.Disconnects = int(r.disconnects.Load())
	r.closeAll()
	sum.Pings = r.pings.Load()
	r.mu.Lock()
	if len(r.closes) > 0 {
		sum.Closes = r.closes
	}
	if len(r.errs) > 0 {
		sum.Errors = r.errs
	}
	r.mu.Unlock()
	if ctx.Err() != nil {
		sum.Interrupted = true
		if runErr == nil {
			runErr = ctx.Err()
		}
	}
	if err := sum.WriteJSON(out); err != nil {
		return sum, errors.Join(runErr, err)
	}
	return sum, runErr
}

// runner holds the state of one Run.
type runner struct {
	o       Options
	log     *slog.Logger
	proc    *procStats    // nil: no server figures
	proxy   *connectProxy // nil: no connect proxy
	dialers []*ws.Dialer
	binary  bool

	conns []*conn // index = connection number; nil where setup failed
	subs  []int64 // established subscribers per channel

	readers      sync.WaitGroup
	pollers      pollers
	latency      *histogram
	received     atomic.Int64
	foreign      atomic.Int64 // publications without a bench payload
	lastDelivery atomic.Int64 // unix nanos of the latest delivery
	pings        atomic.Int64
	disconnects  atomic.Int64

	mu     sync.Mutex
	closes map[string]int
	errs   map[string]int
}

func (r *runner) channelName(i int) string {
	return r.o.ChannelPrefix + strconv.Itoa(i)
}

// portRE matches the port of an address in an error text.
var portRE = regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+|\]):\d+`)

// noteError counts err under what, keeping maxErrorKinds distinct texts.
// Ports are blanked out so that the same failure on many connections
// counts as one kind.
func (r *runner) noteError(what string, err error) {
	r.addErrors(what+": "+portRE.ReplaceAllString(err.Error(), "$1:*"), 1)
}

// addErrors counts n errors of kind key (as noteError makes it), keeping
// maxErrorKinds distinct kinds.
func (r *runner) addErrors(key string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.errs[key]; !ok && len(r.errs) >= maxErrorKinds-1 {
		key = "(other errors)"
	}
	r.errs[key] += n
}

// serverCPU reads the server's CPU time; ok is false without a PID or when
// the process has gone (noted in the errors).
func (r *runner) serverCPU() (d time.Duration, ok bool) {
	if r.proc == nil {
		return 0, false
	}
	d, err := r.proc.cpu()
	if err != nil {
		r.noteError("server stats", err)
		return 0, false
	}
	return d, true
}

func (r *runner) serverRSS() (n int64, ok bool) {
	if r.proc == nil {
		return 0, false
	}
	n, err := r.proc.rss()
	if err != nil {
		r.noteError("server stats", err)
		return 0, false
	}
	return n, true
}

func (r *runner) run(ctx context.Context, pub publisher, sum *Summary) error {
	rss0, rssOK := r.serverRSS()
	if err := r.connectPhase(ctx, sum); err != nil {
		return err
	}
	switch r.o.Scenario {
	case ScenarioIdle:
		r.idlePhase(ctx, sum, rss0, rssOK)
	case ScenarioFanout, ScenarioChannels, ScenarioBurst:
		return r.deliveryPhase(ctx, pub, sum)
	}
	return nil
}

// connectPhase sets up every connection, InFlight at a time.
func (r *runner) connectPhase(ctx context.Context, sum *Summary) error {
	n := r.o.Connections
	r.conns = make([]*conn, n)
	hist := &histogram{}
	var next, failed atomic.Int64

	r.log.Info("connecting", "connections", n, "in_flight", r.o.InFlight, "url", r.o.URL, "protocol", r.o.Protocol)
	stop := r.progress("connecting", func() []any {
		return []any{"done", hist.Count(), "failed", failed.Load(), "of", n}
	})
	cpu0, cpuOK := r.serverCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range min(r.o.InFlight, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				c, err := r.dial(ctx, i, i%r.o.Channels)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						r.noteError("connect", err)
					}
					continue
				}
				hist.Record(time.Since(t0))
				r.conns[i] = c
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, cpuOK1 := r.serverCPU()
	stop()

	r.subs = make([]int64, r.o.Channels)
	established := 0
	for _, c := range r.conns {
		if c != nil {
			established++
			r.subs[c.channel]++
		}
	}
	sum.Connections = established
	sum.ConnectErrors = int(failed.Load())
	sum.Connect = ConnectStats{
		Seconds:   round3(elapsed.Seconds()),
		PerSecond: round3(float64(established) / elapsed.Seconds()),
		P50Ms:     ms(hist.Quantile(0.50)),
		P99Ms:     ms(hist.Quantile(0.99)),
		MaxMs:     ms(hist.Max()),
	}
	if cpuOK && cpuOK1 {
		sum.Connect.ServerCPUSeconds = ptr(round3((cpu1 - cpu0).Seconds()))
	}
	if rss, ok := r.serverRSS(); ok {
		sum.Connect.ServerRSSBytes = ptr(rss)
	}
	if r.proxy != nil {
		calls := r.proxy.calls.Load()
		sum.Connect.ProxyCalls = ptr(calls)
		if missed := int64(established) - calls; missed > 0 {
			// The server let them in without asking: its proxy_connect_endpoint
			// is not this proxy (or it lets clients in without credentials).
			r.addErrors(fmt.Sprintf("connect proxy: connections set up without a call to %s (is it the server's proxy_connect_endpoint?)", r.o.ConnectProxy), int(missed))
		}
	}
	r.log.Info("connected", "connections", established, "failed", failed.Load(), "elapsed", elapsed.Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	if established == 0 {
		return errors.New("bench: no connection could be set up (see errors in the summary)")
	}
	return nil
}

// idlePhase keeps the connections open for Duration.
func (r *runner) idlePhase(ctx context.Context, sum *Summary, rss0 int64, rss0OK bool) {
	r.log.Info("idling", "window", r.o.Duration)
	cpu0, cpuOK := r.serverCPU()
	start := time.Now()
	sleepCtx(ctx, r.o.Duration)
	wall := time.Since(start)
	cpu1, cpuOK1 := r.serverCPU()

	st := &IdleStats{
		Seconds: round3(wall.Seconds()),
		Alive:   sum.Connections - int(r.disconnects.Load()),
	}
	if cpuOK && cpuOK1 && wall > 0 {
		st.ServerCPUPercent = ptr(round3(100 * (cpu1 - cpu0).Seconds() / wall.Seconds()))
	}
	if rss1, ok := r.serverRSS(); ok && rss0OK {
		st.ServerRSSBeforeBytes = ptr(rss0)
		st.ServerRSSAfterBytes = ptr(rss1)
		st.ServerRSSPerConnBytes = ptr((rss1 - rss0) / int64(sum.Connections))
	}
	sum.Idle = st
}

// deliveryPhase publishes for Duration (paced at Rate, or as fast as
// Publishers callers can in burst), from this process or from a publisher
// process, then drains. It returns an error when the publisher process
// failed; the summary notes it too.
func (r *runner) deliveryPhase(ctx context.Context, pub publisher, sum *Summary) error {
	o := &r.o
	counts := newPublishCounts(o.Channels)
	r.received.Store(0)
	r.log.Info("publishing", "scenario", o.Scenario, "via", o.PublishVia, "to", pub.target(),
		"channels", o.Channels, "rate", o.Rate, "duration", o.Duration, "publishers", o.Publishers,
		"publisher_process", o.PublisherProcess)
	stop := r.progress("publishing", func() []any {
		if o.PublisherProcess {
			return []any{"received", r.received.Load()}
		}
		published := counts.published()
		return []any{"published", sumOf(published), "received", r.received.Load(), "expected", r.expected(published)}
	})

	cpu0, cpuOK := r.serverCPU()
	var res publishResult
	var procErr error
	if o.PublisherProcess {
		if res, procErr = r.runPublisherProcess(ctx); procErr != nil {
			r.noteError("publisher process", procErr)
			procErr = fmt.Errorf("bench: publisher process: %w", procErr)
		}
	} else {
		res = r.publishLoop(ctx, pub, counts)
	}
	publications := sumOf(res.Published)
	expected := r.expected(res.Published)
	publishTime := time.Duration(res.Nanos)

	// Drain: wait for deliveries still in flight.
	drainEnd := time.Now().Add(o.Drain)
	for r.received.Load() < expected && time.Now().Before(drainEnd) && sleepCtx(ctx, drainPoll) {
	}
	cpu1, cpuOK1 := r.serverCPU()
	stop()

	received := r.received.Load()
	st := &DeliveryStats{
		Via:              o.PublishVia,
		PublisherProcess: o.PublisherProcess,
		Channels:         o.Channels,
		PayloadBytes:     o.PayloadSize,
		Publishers:       o.Publishers,
		PublishSeconds:   round3(publishTime.Seconds()),
		Publications:     publications,
		PublishErrors:    res.Errors,
		Expected:         expected,
		Received:         received,
		Loss:             expected - received,
		LatencyP50Ms:     ms(r.latency.Quantile(0.50)),
		LatencyP95Ms:     ms(r.latency.Quantile(0.95)),
		LatencyP99Ms:     ms(r.latency.Quantile(0.99)),
		LatencyMaxMs:     ms(r.latency.Max()),
		PublishP50Ms:     ms(time.Duration(res.P50)),
		PublishP99Ms:     ms(time.Duration(res.P99)),
		PublishMaxMs:     ms(time.Duration(res.Max)),
	}
	if o.Scenario != ScenarioBurst {
		st.TargetRate = o.Rate
	}
	if publishTime > 0 {
		st.PublishRate = round3(float64(publications) / publishTime.Seconds())
	}
	if last := r.lastDelivery.Load(); received > 0 && res.Start > 0 && last > res.Start {
		st.DeliveriesPerSecond = round3(float64(received) / time.Duration(last-res.Start).Seconds())
	}
	if cpuOK && cpuOK1 {
		cpu := (cpu1 - cpu0).Seconds()
		st.ServerCPUSeconds = ptr(round3(cpu))
		if received > 0 {
			st.ServerCPUSecondsPerMillion = ptr(round3(cpu * 1e6 / float64(received)))
		}
		if publications > 0 {
			st.ServerCPUMillisPerPublish = ptr(round3(cpu * 1e3 / float64(publications)))
		}
	}
	if n := r.foreign.Load(); n > 0 {
		r.noteError("publications", fmt.Errorf("%d without a bench payload", n))
	}
	sum.Delivery = st
	return procErr
}

// expected is the number of deliveries that published (successful publish
// calls per channel index) should make: each reaches every established
// subscriber of its channel.
func (r *runner) expected(published []int64) int64 {
	var n int64
	for ch, p := range published {
		if ch < len(r.subs) {
			n += p * r.subs[ch]
		}
	}
	return n
}

func sumOf(v []int64) int64 {
	var n int64
	for _, x := range v {
		n += x
	}
	return n
}

// publishCounts are the counters of one publish loop, updated while it
// runs.
type publishCounts struct {
	perChannel []atomic.Int64 // successful calls per channel index
	errors     atomic.Int64   // failed calls, not counting those cut by ctx
	latency    histogram      // durations of the successful calls
}

func newPublishCounts(channels int) *publishCounts {
	return &publishCounts{perChannel: make([]atomic.Int64, channels)}
}

// published returns the successful calls per channel index so far.
func (c *publishCounts) published() []int64 {
	p := make([]int64, len(c.perChannel))
	for i := range c.perChannel {
		p[i] = c.perChannel[i].Load()
	}
	return p
}

// publishResult sums up one publish loop. A publisher process writes it to
// its parent as one JSON line.
type publishResult struct {
	// Start is when the loop began, in unix nanoseconds; Nanos is the time
	// from then to the end of the last publish call.
	Start int64 `json:"start_unix_ns"`
	Nanos int64 `json:"publish_ns"`
	// Published counts the successful publish calls per channel index
	// (channel <prefix><index>), so that the expected deliveries are
	// Σ Published[ch] × subscribers of ch.
	Published []int64 `json:"published"`
	// Errors counts the failed calls. ErrorKinds samples them with their
	// counts, keyed as noteError keys them; only a publisher process fills
	// it in (in process they go to the runner's errors directly).
	Errors     int64          `json:"publish_errors"`
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	// P50, P99 and Max are publish-call durations in nanoseconds.
	P50 int64 `json:"publish_p50_ns"`
	P99 int64 `json:"publish_p99_ns"`
	Max int64 `json:"publish_max_ns"`
	// Interrupted is set when ctx ended the loop early.
	Interrupted bool `json:"interrupted,omitempty"`
}

// publishLoop makes the publish calls of a delivery phase through pub and
// counts them in c: Rate a second until Rate×Duration calls have started
// (paced; a run that falls publishGrace behind its schedule stops early), or
// as fast as Publishers concurrent callers can until Duration has passed
// (burst). Publication k goes to channel k mod Channels and carries the
// start time of its call. Failed calls are noted with noteError.
func (r *runner) publishLoop(ctx context.Context, pub publisher, c *publishCounts) publishResult {
	o := &r.o
	burst := o.Scenario == ScenarioBurst
	names := make([]string, o.Channels)
	for i := range names {
		names[i] = r.channelName(i)
	}
	total := int64(o.Rate * o.Duration.Seconds()) // paced only
	var interval float64                          // paced: nanoseconds between publications
	if !burst {
		interval = 1e9 / o.Rate
	}

	var seq atomic.Int64
	start := time.Now()
	end := start.Add(o.Duration)
	hardStop := end.Add(publishGrace) // a paced run that falls behind stops here
	var wg sync.WaitGroup
	for range o.Publishers {
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			buf := make([]byte, 0, o.PayloadSize+len(names[0])+64)
			for ctx.Err() == nil {
				k := seq.Add(1) - 1
				if burst {
					if !time.Now().Before(end) {
						return
					}
				} else {
					if k >= total {
						return
					}
					at := start.Add(time.Duration(float64(k) * interval))
					if time.Now().After(hardStop) || !waitUntil(ctx, timer, at) {
						return
					}
				}
				ch := int(k % int64(len(names)))
				t := time.Now()
				var err error
				if buf, err = pub.publish(ctx, buf, names[ch], t.UnixNano(), k); err != nil {
					if ctx.Err() == nil {
						c.errors.Add(1)
						r.noteError("publish", err)
					}
					continue
				}
				c.latency.Record(time.Since(t))
				c.perChannel[ch].Add(1)
			}
		})
	}
	wg.Wait()
	return publishResult{
		Start:       start.UnixNano(),
		Nanos:       int64(time.Since(start)),
		Published:   c.published(),
		Errors:      c.errors.Load(),
		P50:         int64(c.latency.Quantile(0.50)),
		P99:         int64(c.latency.Quantile(0.99)),
		Max:         int64(c.latency.Max()),
		Interrupted: ctx.Err() != nil,
	}
}

// closeAll closes every connection and waits (boundedly) for the readers.
func (r *runner) closeAll() {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(closeWorkers, len(r.conns)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.conns) {
					return
				}
				if c := r.conns[i]; c != nil {
					c.close()
				}
			}
		})
	}
	wg.Wait()
	r.stopPollers()
	done := make(chan struct{})
	go func() {
		r.readers.Wait()
		close(done)
	}()
	t := time.NewTimer(readersExitTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.log.Warn("some connection readers did not stop", "timeout", readersExitTimeout)
	}
}

// progress logs fn's figures every progressEvery until the returned stop
// function is called.
func (r *runner) progress(msg string, fn func() []any) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.log.Info(msg, fn()...)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// sleepCtx sleeps for d; it returns false early when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitUntil waits for at with timer; it returns false when ctx is done.
func waitUntil(ctx context.Context, timer *time.Timer, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
