package node

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// A client keeps only the request headers some proxy forwards.
func TestClientKeepsOnlyForwardedHeaders(t *testing.T) {
	t.Parallel()
	req := http.Header{
		"Authorization": {"Bearer x"},
		"Cookie":        {"a=1", "b=2"},
		"X-Trace-Id":    {"t1"},
		"User-Agent":    {"Mozilla/5.0"},
		"Accept":        {"*/*"},
	}
	cases := []struct {
		name   string
		mutate func(*config.Config)
		want   http.Header
	}{
		{"no proxies", nil, nil},
		{"forwarded by the proxies", func(c *config.Config) {
			c.ProxyHTTPHeaders = []string{"authorization", "X-Absent"}
			c.ProxyGRPCMetadata = []string{"x-trace-id"}
			c.Proxies = []config.Proxy{{Name: "p", HTTPHeaders: []string{"Cookie", "Authorization"}}}
		}, http.Header{"Authorization": {"Bearer x"}, "Cookie": {"a=1", "b=2"}, "X-Trace-Id": {"t1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := testNode(t, tc.mutate)
			c, err := n.NewClient(newSink(protocol.TypeJSON), ClientOptions{Headers: req})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.headers, tc.want) {
				t.Fatalf("kept %v, want %v", c.headers, tc.want)
			}
		})
	}
}
