// Command benchtable prints the JSON summary lines of `rotor bench` runs as
// one table, a row per file, named after the file (fanout-delay20ms.json:
// fanout-delay20ms).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// column is one figure of the summary: a field of one of its sections,
// divided by div when set.
type column struct {
	title, section, key string
	div                 float64
}

var columns = []column{
	{"connect_s", "connect", "total_s", 0},
	{"conn_cpu_s", "connect", "server_cpu_s", 0},
	{"rss/conn_KiB", "idle", "server_rss_per_conn_bytes", 1024},
	{"idle_cpu_pct", "idle", "server_cpu_pct", 0},
	{"deliv/s", "delivery", "deliveries_per_s", 0},
	{"loss", "delivery", "loss", 0},
	{"p50_ms", "delivery", "latency_p50_ms", 0},
	{"p99_ms", "delivery", "latency_p99_ms", 0},
	{"pub_p50_ms", "delivery", "publish_p50_ms", 0},
	{"cpu_s/Mdeliv", "delivery", "server_cpu_s_per_million_deliveries", 0},
	{"cpu_ms/pub", "delivery", "server_cpu_ms_per_publish", 0},
}

func main() {
	fmt.Printf("%-17s %7s", "scenario", "conns")
	for _, c := range columns {
		fmt.Printf(" %*s", width(c), c.title)
	}
	fmt.Println()
	for _, path := range os.Args[1:] {
		s, err := lastLine(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(path), err)
			os.Exit(1)
		}
		fmt.Printf("%-17s %7v", strings.TrimSuffix(filepath.Base(path), ".json"), s["connections"])
		for _, c := range columns {
			fmt.Printf(" %*s", width(c), value(s, c))
		}
		fmt.Println()
	}
}

func width(c column) int { return max(len(c.title), 8) }

// lastLine parses the last line of path: the summary, after any log lines.
func lastLine(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(data))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		return nil, err
	}
	return s, nil
}

// value formats c's figure in s, "-" when the run has none.
func value(s map[string]any, c column) string {
	m, _ := s[c.section].(map[string]any)
	v, ok := m[c.key]
	if !ok {
		return "-"
	}
	f, ok := v.(float64)
	if !ok {
		return fmt.Sprint(v)
	}
	if c.div != 0 {
		f /= c.div
	}
	return fmt.Sprintf("%.2f", f)
}
