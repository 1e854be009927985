package app

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/config"
)

func TestDebugServesPprofOnlyWhenOn(t *testing.T) {
	for _, on := range []bool{false, true} {
		a := startApp(t, func(c *config.Config) { c.Debug = on })
		resp, err := http.Get("http://" + a.Addr() + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if on && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ".test")) {
			t.Fatalf("debug on: status %d body %q, want 200 with the command line", resp.StatusCode, body)
		}
		if !on && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("debug off: status %d, want 404", resp.StatusCode)
		}
	}
}
