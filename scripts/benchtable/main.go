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

func main() {
	fmt.Printf("%-17s %8s %10s %12s %12s %12s %10s %9s %9s %12s\n",
		"scenario", "conns", "connect_s", "rss/conn_KiB", "cpu_pct", "deliv/s", "loss", "p50_ms", "p99_ms", "cpu_s/Mdeliv")
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		line := strings.TrimSpace(string(data))
		if i := strings.LastIndexByte(line, '\n'); i >= 0 {
			line = line[i+1:]
		}
		var s map[string]any
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(path), err)
			os.Exit(1)
		}
		get := func(section, key string) string {
			m, _ := s[section].(map[string]any)
			v, ok := m[key]
			if !ok {
				return "-"
			}
			if f, ok := v.(float64); ok {
				if key == "server_rss_per_conn_bytes" {
					return fmt.Sprintf("%.1f", f/1024)
				}
				return fmt.Sprintf("%.2f", f)
			}
			return fmt.Sprint(v)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		fmt.Printf("%-17s %8v %10s %12s %12s %12s %10s %9s %9s %12s\n",
			name, s["connections"], get("connect", "total_s"), get("idle", "server_rss_per_conn_bytes"),
			get("idle", "server_cpu_pct"), get("delivery", "deliveries_per_s"), get("delivery", "loss"),
			get("delivery", "latency_p50_ms"), get("delivery", "latency_p99_ms"), get("delivery", "server_cpu_s_per_million_deliveries"))
	}
}
