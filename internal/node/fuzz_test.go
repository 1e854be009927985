package node

import (
	"testing"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// FuzzHandleFrame feeds arbitrary frames to a connected client, in both
// protocols: the node must never panic, and must either keep the client or
// close it with a disconnect code.
func FuzzHandleFrame(f *testing.F) {
	f.Add([]byte(`{"id":2,"subscribe":{"channel":"a"}}`), false)
	f.Add([]byte(`{"id":2,"publish":{"channel":"a","data":{"x":1}}}`+"\n"+`{"id":3,"rpc":{"method":"m"}}`), false)
	f.Add([]byte(`{"id":2,"refresh":{"token":"x"}}`), false)
	f.Add([]byte{}, false)
	f.Add([]byte(`{`), false)
	f.Add([]byte(`{"id":2,"subscribe":{"channel":"h:a","recover":true,"offset":3,"epoch":"x","delta":"fossil","join_leave":true,"flag":2}}`), false)
	f.Add([]byte(`{"id":2,"subscribe":{"channel":"a","tf":{"op":"and","nodes":[{"key":"k","cmp":"eq","val":"v"},{"op":"not","nodes":[{"key":"n","cmp":"gt","val":"1"}]}]}}}`), false)
	f.Add([]byte(`{"id":2,"presence":{"channel":"h:a"}}`+"\n"+`{"id":3,"presence_stats":{"channel":"a"}}`+"\n"+`{"id":4,"history":{"channel":"h:a","limit":-1,"since":{"offset":1,"epoch":"e"},"reverse":true}}`), false)
	f.Add([]byte(`{"id":2,"sub_refresh":{"channel":"a","token":"x"}}`), false)
	f.Add(protoFrame(f, &protocol.Command{Id: 2, Subscribe: &protocol.SubscribeRequest{Channel: "a"}}), true)
	f.Add(protoFrame(f, &protocol.Command{Id: 2, Subscribe: &protocol.SubscribeRequest{Channel: "h:b", Recover: true, Positioned: true, Recoverable: true, Delta: "fossil"}},
		&protocol.Command{Id: 3, History: &protocol.HistoryRequest{Channel: "h:b", Limit: 5}},
		&protocol.Command{Id: 4, Unsubscribe: &protocol.UnsubscribeRequest{Channel: "h:b"}}), true)
	f.Add([]byte{0x05, 0x08}, true)
	n := testNode(f, func(c *config.Config) {
		c.AllowSubscribeForClient = true
		c.AllowPublishForClient = true
		c.ClientStaleCloseDelay = time.Hour
		c.Namespaces = append(c.Namespaces, config.Namespace{Name: "h", ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true, AllowPublishForClient: true, AllowHistoryForClient: true, AllowPresenceForClient: true,
			Presence: true, JoinLeave: true, HistorySize: 10, HistoryTTL: time.Minute, ForceRecovery: true,
			AllowedDeltaTypes: []string{"fossil"}, DeltaPublish: true,
		}})
	})
	tok := token(f, n, "fuzz", time.Hour)
	f.Fuzz(func(t *testing.T, frame []byte, pb bool) {
		proto := protocol.TypeJSON
		if pb {
			proto = protocol.TypeProtobuf
		}
		tr := newSink(proto)
		tr.frames = make(chan []byte, 1<<16)
		c, err := n.NewClient(tr, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		connect := &protocol.Command{Id: 1, Connect: &protocol.ConnectRequest{Token: tok}}
		if pb {
			c.HandleFrame(protoFrame(t, connect))
		} else {
			c.HandleFrame([]byte(`{"id":1,"connect":{"token":"` + tok + `"}}`))
		}
		if c.isClosed() {
			t.Fatal("connect failed")
		}
		alive := c.HandleFrame(frame)
		if !alive {
			d := tr.disconnect(t)
			if d.Code < 3000 {
				t.Fatalf("closed with code %d", d.Code)
			}
		}
		c.Disconnect(DisconnectForceNoReconnect)
	})
}
