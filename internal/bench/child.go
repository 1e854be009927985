package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// publisherChildFlag is the hidden flag, registered by RegisterFlags, that
// starts a publisher process; its value is the JSON of childOptions.
const publisherChildFlag = "publisher-child"

// maxStderrTail bounds the end of a publisher process's stderr kept to
// explain its failure.
const maxStderrTail = 4 << 10

// childOptions are the Options a publisher process needs to make the
// publish calls of a delivery phase. Connections is there only so that the
// child's normalized Options accept the same Channels.
type childOptions struct {
	Scenario       string        `json:"scenario"`
	Connections    int           `json:"connections"`
	Channels       int           `json:"channels"`
	ChannelPrefix  string        `json:"channel_prefix"`
	Rate           float64       `json:"rate"`
	Duration       time.Duration `json:"duration"`
	Publishers     int           `json:"publishers"`
	PayloadSize    int           `json:"payload_size"`
	APIURL         string        `json:"api_url"`
	APIKey         string        `json:"api_key,omitempty"`
	PublishVia     string        `json:"publish_via"`
	GRPCAddr       string        `json:"grpc_addr"`
	GRPCKey        string        `json:"grpc_key,omitempty"`
	CAFile         string        `json:"ca_file,omitempty"`
	ConnectTimeout time.Duration `json:"connect_timeout"`
	PublishTimeout time.Duration `json:"publish_timeout"`
}

// childOptionsOf picks the publishing fields of normalized options.
func childOptionsOf(o *Options) childOptions {
	return childOptions{
		Scenario:       o.Scenario,
		Connections:    o.Connections,
		Channels:       o.Channels,
		ChannelPrefix:  o.ChannelPrefix,
		Rate:           o.Rate,
		Duration:       o.Duration,
		Publishers:     o.Publishers,
		PayloadSize:    o.PayloadSize,
		APIURL:         o.APIURL,
		APIKey:         o.APIKey,
		PublishVia:     o.PublishVia,
		GRPCAddr:       o.GRPCAddr,
		GRPCKey:        o.GRPCKey,
		CAFile:         o.CAFile,
		ConnectTimeout: o.ConnectTimeout,
		PublishTimeout: o.PublishTimeout,
	}
}

// options returns c as Options, to be normalized.
func (c childOptions) options(log *slog.Logger) Options {
	return Options{
		Scenario:       c.Scenario,
		Connections:    c.Connections,
		Channels:       c.Channels,
		ChannelPrefix:  c.ChannelPrefix,
		Rate:           c.Rate,
		Duration:       c.Duration,
		Publishers:     c.Publishers,
		PayloadSize:    c.PayloadSize,
		APIURL:         c.APIURL,
		APIKey:         c.APIKey,
		PublishVia:     c.PublishVia,
		GRPCAddr:       c.GRPCAddr,
		GRPCKey:        c.GRPCKey,
		CAFile:         c.CAFile,
		ConnectTimeout: c.ConnectTimeout,
		PublishTimeout: c.PublishTimeout,
		Logger:         log,
	}
}

// runPublisherChild is Run in a publisher process: spec is the JSON of
// childOptions. It runs publishLoop, as the parent would have in process,
// and writes the publishResult to out as one JSON line, with the error
// kinds met. It returns an error, writing nothing, only when it cannot
// start publishing; an interrupted loop is reported in the line.
func runPublisherChild(ctx context.Context, spec string, log *slog.Logger, out io.Writer) error {
	var c childOptions
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("bench: --%s: %w", publisherChildFlag, err)
	}
	o, err := c.options(log).normalized()
	if err != nil {
		return err
	}
	if !o.publishes() {
		return fmt.Errorf("bench: --%s: scenario %s does not publish", publisherChildFlag, o.Scenario)
	}
	pub, err := newPublisher(&o)
	if err != nil {
		return err
	}
	defer pub.close()

	r := &runner{o: o, log: o.Logger, errs: map[string]int{}}
	r.log.Info("publisher process publishing", "pid", os.Getpid(), "via", o.PublishVia, "to", pub.target())
	res := r.publishLoop(ctx, pub, newPublishCounts(o.Channels))
	if len(r.errs) > 0 {
		res.ErrorKinds = r.errs
	}
	line, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("bench: encoding publisher result: %w", err)
	}
	_, err = out.Write(append(line, '\n'))
	return err
}

// runPublisherProcess runs the publish loop in a child process of this
// executable (Options.publisherExe in tests) and returns its result. The
// child gets no stdin, writes its log to this process's stderr and is
// killed when ctx ends (and, on Linux, when this process dies). Error kinds
// the child met are added to r's errors. On failure the result counts no
// publication and the error says why, with the last lines of the child's
// stderr when it wrote some.
func (r *runner) runPublisherProcess(ctx context.Context) (publishResult, error) {
	failed := publishResult{Published: make([]int64, r.o.Channels)}
	exe := r.o.publisherExe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return failed, fmt.Errorf("finding this executable: %w", err)
		}
	}
	spec, err := json.Marshal(childOptionsOf(&r.o))
	if err != nil {
		return failed, fmt.Errorf("encoding options: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "--"+publisherChildFlag+"="+string(spec))
	var stdout bytes.Buffer
	tail := &tailWriter{max: maxStderrTail}
	cmd.Stdin = nil // the null device
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, tail)
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return failed, fmt.Errorf("starting %s: %w", exe, err)
	}
	r.log.Info("publisher process started", "pid", cmd.Process.Pid)
	waitErr := cmd.Wait()

	res, lineErr := parsePublisherLine(stdout.Bytes(), r.o.Channels)
	if lineErr != nil {
		res = failed
	} else if len(res.ErrorKinds) > 0 {
		for k, n := range res.ErrorKinds {
			r.addErrors(k, n)
		}
		res.ErrorKinds = nil
	}
	switch {
	case ctx.Err() != nil && waitErr != nil:
		return res, fmt.Errorf("stopped (%v): %w", waitErr, context.Cause(ctx))
	case ctx.Err() != nil && lineErr != nil:
		return res, fmt.Errorf("stopped (%v): %w", lineErr, context.Cause(ctx))
	case waitErr != nil:
		return res, fmt.Errorf("%s: %w%s", exe, waitErr, tail.lastLines(3))
	case lineErr != nil:
		return res, fmt.Errorf("%s: %w", exe, lineErr)
	case res.Interrupted && ctx.Err() == nil:
		return res, errors.New("interrupted before the end of its publish loop")
	}
	return res, nil
}

// parsePublisherLine reads the one JSON line of a publisher process that
// published to channels channels.
func parsePublisherLine(out []byte, channels int) (publishResult, error) {
	var res publishResult
	line := bytes.TrimSuffix(out, []byte("\n"))
	if len(bytes.TrimSpace(line)) == 0 {
		return res, errors.New("no output line")
	}
	if n := bytes.Count(line, []byte("\n")); n > 0 {
		return res, fmt.Errorf("%d output lines, want one: %q", n+1, firstBytes(line, 100))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return res, fmt.Errorf("bad output line %q: %w", firstBytes(line, 100), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return res, fmt.Errorf("bad output line %q: data after the JSON object", firstBytes(line, 100))
	}
	if len(res.Published) != channels {
		return res, fmt.Errorf("output line counts %d channels, want %d", len(res.Published), channels)
	}
	bad := res.Start <= 0 || res.Nanos < 0 || res.Errors < 0 || res.P50 < 0 || res.P99 < res.P50 || res.Max < res.P99
	for _, n := range res.Published {
		bad = bad || n < 0
	}
	if bad {
		return res, fmt.Errorf("implausible output line %q", firstBytes(line, 100))
	}
	return res, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

// lastLines returns ": " and up to n last non-blank lines written, joined
// by " / ", or "" when nothing was written.
func (w *tailWriter) lastLines(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for l := range strings.SplitSeq(string(w.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines[max(0, len(lines)-n):], " / ")
}
