package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// rawConn is a client speaking the JSON protocol by hand, for checks the SDKs
// hide (they deliver events asynchronously, which blurs ordering).
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
	id uint32
}

func dialRaw(t *testing.T, srv *testutil.Server) *rawConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait.Timeout}
	ws, resp, err := d.DialContext(t.Context(), srv.WSURL, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", srv.WSURL, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return &rawConn{t: t, ws: ws}
}

// command sends one command (the JSON object of a Command without id) and
// returns the id it was given.
func (c *rawConn) command(body string) uint32 {
	c.t.Helper()
	c.id++
	frame := fmt.Sprintf(`{"id":%d,%s}`, c.id, body[1:len(body)-1])
	if err := c.ws.SetWriteDeadline(time.Now().Add(wait.Timeout)); err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("write %s: %v", frame, err)
	}
	return c.id
}

// next returns the next reply or push, skipping server pings ({}); what
// names the awaited message in the failure message.
func (c *rawConn) next(what string) map[string]json.RawMessage {
	c.t.Helper()
	for {
		if err := c.ws.SetReadDeadline(time.Now().Add(wait.Timeout)); err != nil {
			c.t.Fatal(err)
		}
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				c.t.Fatalf("frame is not JSON: %q: %v", line, err)
			}
			if len(m) == 0 {
				continue // ping
			}
			// More than one message in a frame is fine, but this
			// client sends one command at a time, so it never gets
			// more than one answer per frame in these tests.
			return m
		}
	}
}

// reply waits for the reply to command id and fails on an error reply.
func (c *rawConn) reply(id uint32) map[string]json.RawMessage {
	c.t.Helper()
	m := c.next(fmt.Sprintf("the reply to command %d", id))
	var got uint32
	_ = json.Unmarshal(m["id"], &got)
	if got != id {
		c.t.Fatalf("expected the reply to command %d, got %s", id, mustJSON(m))
	}
	if e, ok := m["error"]; ok {
		c.t.Fatalf("command %d: error %s", id, e)
	}
	return m
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPublicationRightAfterSubscribeReply checks that a publication made
// after the client has its subscribe reply always reaches it: clients
// subscribe and then load state, relying on every later publication.
func TestPublicationRightAfterSubscribeReply(t *testing.T) {
	t.Parallel()
	const rounds = 200
	srv := testutil.RunServer(t, func(c *config.Config) {
		pubSubConfig(c)
		c.ClientChannelLimit = rounds + 1
	})
	c := dialRaw(t, srv)
	c.reply(c.command(fmt.Sprintf(`{"connect":{"token":%q}}`, srv.Token("alice", tokenTTL))))

	for i := range rounds {
		ch := fmt.Sprintf("seq%d", i)
		c.reply(c.command(fmt.Sprintf(`{"subscribe":{"channel":%q}}`, ch)))
		srv.APIResult(t, "publish", map[string]any{"channel": ch, "data": map[string]any{"i": i}})
		m := c.next("the publication in " + ch)
		var push struct {
			Channel string `json:"channel"`
			Pub     *struct {
				Data json.RawMessage `json:"data"`
			} `json:"pub"`
		}
		if err := json.Unmarshal(m["push"], &push); err != nil || push.Pub == nil {
			t.Fatalf("round %d: expected the publication in %s, got %s", i, ch, mustJSON(m))
		}
		if push.Channel != ch {
			t.Fatalf("round %d: publication in %q, want %q", i, push.Channel, ch)
		}
		if err := jsonEqual(push.Pub.Data, fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}
