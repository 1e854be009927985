package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Summary is the result of one Run, written as one JSON line. Durations are
// in seconds (suffix _s) or milliseconds (suffix _ms); sizes are in bytes.
// Fields about the server (server_*) are present only when Options.ServerPID
// was set. Sections that do not apply to the scenario are left out.
type Summary struct {
	Scenario string `json:"scenario"`
	Protocol string `json:"protocol"`
	// Requested is the number of connections asked for; Connections the
	// number that connected and subscribed.
	Requested     int `json:"requested"`
	Connections   int `json:"connections"`
	ConnectErrors int `json:"connect_errors"`
	// Disconnects counts connections the server closed before the end of the
	// run; Closes breaks them down by WebSocket close code ("0" when the
	// connection ended without a close frame).
	Disconnects int            `json:"disconnects"`
	Closes      map[string]int `json:"closes,omitempty"`
	// Pings is the number of server pings answered.
	Pings int64 `json:"pings"`

	Connect  ConnectStats   `json:"connect"`
	Idle     *IdleStats     `json:"idle,omitempty"`
	Delivery *DeliveryStats `json:"delivery,omitempty"`

	// Errors samples the distinct errors met (connect, publish), with their
	// counts; at most a few are kept.
	Errors map[string]int `json:"errors,omitempty"`
	// Interrupted is set when the run was cancelled before its end; the
	// figures cover what was done.
	Interrupted bool `json:"interrupted,omitempty"`
}

// ConnectStats describe the connect phase, which every scenario has: each
// connection dials, connects and subscribes, with Options.InFlight setups at
// a time.
type ConnectStats struct {
	// Seconds is the wall time of the whole phase.
	Seconds float64 `json:"total_s"`
	// PerSecond is Connections / Seconds.
	PerSecond float64 `json:"per_s"`
	// P50Ms, P99Ms and MaxMs are per-connection setup times, from dial to
	// the subscribe reply.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// ServerCPUSeconds is the server CPU time used during the phase.
	ServerCPUSeconds *float64 `json:"server_cpu_s,omitempty"`
	// ServerRSSBytes is the server RSS at the end of the phase.
	ServerRSSBytes *int64 `json:"server_rss_bytes,omitempty"`
	// ProxyCalls counts the connect proxy calls answered during the phase
	// (Options.ConnectProxy); absent without a proxy.
	ProxyCalls *int64 `json:"proxy_calls,omitempty"`
}

// IdleStats describe the idle window of the idle scenario.
type IdleStats struct {
	Seconds float64 `json:"window_s"`
	// Alive is the number of connections still open at the end.
	Alive int `json:"alive"`
	// ServerRSSBeforeBytes is the RSS before the first connection,
	// ServerRSSAfterBytes at the end of the window, and
	// ServerRSSPerConnBytes their difference divided by Connections.
	ServerRSSBeforeBytes  *int64 `json:"server_rss_before_bytes,omitempty"`
	ServerRSSAfterBytes   *int64 `json:"server_rss_after_bytes,omitempty"`
	ServerRSSPerConnBytes *int64 `json:"server_rss_per_conn_bytes,omitempty"`
	// ServerCPUPercent is the server CPU time over the window divided by the
	// window, in percent of one core.
	ServerCPUPercent *float64 `json:"server_cpu_pct,omitempty"`
}

// DeliveryStats describe the publishing phase of fanout, channels and burst,
// and the drain that follows it.
type DeliveryStats struct {
	// Via is the server API transport publications went through.
	Via string `json:"via"`
	// PublisherProcess is set when the publish calls were made from a
	// child process (Options.PublisherProcess) rather than from the
	// process that reads the deliveries; Publish* then measure them there.
	PublisherProcess bool `json:"publisher_process,omitempty"`
	Channels         int  `json:"channels"`
	PayloadBytes     int  `json:"payload_bytes"`
	Publishers       int  `json:"publishers"`
	// TargetRate is the publication rate asked for (0 in burst).
	TargetRate float64 `json:"target_rate"`
	// PublishSeconds is the time from the first publish call to the end of
	// the last one.
	PublishSeconds float64 `json:"publish_s"`
	Publications   int64   `json:"publications"`
	PublishErrors  int64   `json:"publish_errors"`
	PublishRate    float64 `json:"publish_rate"`
	// Expected is the sum over successful publications of the subscribers
	// their channel had; Received what the subscribers read; Loss their
	// difference.
	Expected int64 `json:"expected"`
	Received int64 `json:"received"`
	Loss     int64 `json:"loss"`
	// DeliveriesPerSecond is Received over the time from the first publish
	// call to the last delivery.
	DeliveriesPerSecond float64 `json:"deliveries_per_s"`
	// Latency* measure each delivery from the start of its publish call to
	// the subscriber's read.
	LatencyP50Ms float64 `json:"latency_p50_ms"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	LatencyP99Ms float64 `json:"latency_p99_ms"`
	LatencyMaxMs float64 `json:"latency_max_ms"`
	// Publish* measure the publish calls (request to response body).
	PublishP50Ms float64 `json:"publish_p50_ms"`
	PublishP99Ms float64 `json:"publish_p99_ms"`
	PublishMaxMs float64 `json:"publish_max_ms"`
	// ServerCPUSeconds is the server CPU time from the first publish call
	// to the end of the drain; the two ratios divide it by a million
	// deliveries received and by publications.
	ServerCPUSeconds           *float64 `json:"server_cpu_s,omitempty"`
	ServerCPUSecondsPerMillion *float64 `json:"server_cpu_s_per_million_deliveries,omitempty"`
	ServerCPUMillisPerPublish  *float64 `json:"server_cpu_ms_per_publish,omitempty"`
}

// WriteJSON writes s as one JSON line.
func (s Summary) WriteJSON(w io.Writer) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "->" in error texts readable
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("bench: encoding summary: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }

func ptr[T any](v T) *T { return &v }
