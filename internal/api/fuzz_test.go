package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/node"
)

var fuzzPaths = []string{
	"/api", "/api/publish", "/api/broadcast", "/api/subscribe", "/api/unsubscribe", "/api/disconnect",
	"/api/presence", "/api/presence_stats", "/api/history", "/api/history_remove", "/api/info", "/api/rpc",
	"/api/refresh", "/api/channels", "/api/batch",
}

// FuzzHTTPAPI feeds arbitrary bodies to every route. Whatever the body, the
// handler must not panic, must answer with one of the statuses the API
// defines, and every 200 reply (each line of an older-format reply) must be
// valid JSON.
func FuzzHTTPAPI(f *testing.F) {
	seeds := []struct {
		path byte
		body string
	}{
		{0, `{"id":1,"method":"publish","params":{"channel":"a","data":{"x":1}}}` + "\n" + `{"method":4,"params":{"channel":"a"}}`},
		{0, `{"method":"rpc","params":{"method":"m","params":"\u0000"}}`},
		{1, `{"channel":"a","data":{"x":[1,2,{"y":null}]},"tags":{"k":"v"}}`},
		{1, `{"channel":"a","b64data":"AAEC"}`},
		{2, `{"channels":["a","b",""],"data":"x"}`},
		{3, `{"channel":"a","user":"u","override":{"presence":{"value":true}},"recover_since":{"offset":"1"}}`},
		{5, `{"user":"u","disconnect":{"code":4000,"reason":"r"}}`},
		{8, `{"channel":"a","limit":-1,"since":{"offset":1,"epoch":"e"},"reverse":true}`},
		{11, `{"method":"echo","params":{"deep":[[[[[]]]]]}}`},
		{14, `{"parallel":true,"commands":[{"publish":{"channel":"a","data":1}},{"method":"info"},{}]}`},
		{6, `{"channel":"\ud800"}`},
		{1, ``},
		{1, `{`},
	}
	for _, s := range seeds {
		f.Add(s.path, []byte(s.body))
	}
	fake := &fakeNode{
		presence: map[string]*node.ClientInfo{"c\n\"": {User: "u\x00", Client: "c", ConnInfo: []byte("not json")}},
		history: node.HistoryResult{Publications: []*node.Publication{
			{Offset: 1, Data: []byte("{\n}"), Tags: map[string]string{"\xff": "\u2028"}},
		}},
		channels: map[string]node.ChannelInfo{"<&>": {NumClients: 1}},
		info:     []node.NodeInfo{{UID: "u", Name: "n\t"}},
	}
	exec, err := NewExecutor(fake, ExecutorConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	h := NewHTTPHandler(exec, HTTPOptions{Insecure: true, MaxBodySize: 4096})
	f.Fuzz(func(t *testing.T, path byte, body []byte) {
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		req := httptest.NewRequest(http.MethodPost, p, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			return
		default:
			t.Fatalf("%s %q: unexpected status %d", p, body, rec.Code)
		}
		out := rec.Body.String()
		lines := []string{out}
		if p == "/api" {
			lines = strings.Split(out, "\n")
		}
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Fatalf("%s %q: invalid JSON reply %q", p, body, l)
			}
		}
	})
}
