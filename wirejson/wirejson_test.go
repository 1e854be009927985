package wirejson

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/proxyproto"
)

func TestWireMarshal(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"empty", &proxyproto.ConnectResponse{}, `{}`},
		{"zero values left out", &proxyproto.ConnectResult{User: "", ExpireAt: 0}, `{}`},
		{
			"every kind",
			&proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
				User: "u\"1", ExpireAt: -5, Info: []byte(` {"a": 1} `), Channels: []string{"x", "y"},
				Subs: map[string]*proxyproto.SubscribeOptions{
					"b": {Data: []byte(`true`)},
					"a": {Override: &proxyproto.SubscribeOptionOverride{Presence: &proxyproto.BoolValue{}}},
				},
			}},
			`{"result":{"user":"u\"1","expire_at":-5,"info":{"a": 1},"channels":["x","y"],"subs":{"a":{"override":{"presence":{}}},"b":{"data":true}}}}`,
		},
		{
			"binary payload goes to the b64 twin",
			&proxyproto.RPCResult{Data: []byte{0xff, 0x01}},
			`{"b64data":"/wE="}`,
		},
		{
			"uint64, double and map of doubles",
			&apiproto.NodeResult{NumClients: 3, Metrics: &apiproto.Metrics{Interval: 1.5, Items: map[string]float64{"m": 2}}, Process: &apiproto.Process{Rss: 1 << 40}},
			`{"num_clients":3,"metrics":{"interval":1.5,"items":{"m":2}},"process":{"rss":1099511627776}}`,
		},
		{
			"enum as number",
			&apiproto.Command{Method: apiproto.Command_HISTORY},
			`{"method":6}`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Marshal(c.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestWireMarshalErrors(t *testing.T) {
	for name, msg := range map[string]proto.Message{
		"binary meta has no twin":  &proxyproto.ConnectResult{Meta: []byte{0xff}},
		"twin already set":         &proxyproto.RPCResult{Data: []byte{0xff}, B64Data: "AA=="},
		"binary in nested message": &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{Caps: nil, Meta: []byte("{")}},
	} {
		if b, err := Marshal(msg); err == nil {
			t.Errorf("%s: encoded as %s", name, b)
		}
	}
}

func TestWireUnmarshal(t *testing.T) {
	in := `{
		"client": "c", "unknown": {"x": [1, 2]}, "user": null,
		"data": {"nested": [1, {"a": "b"}]},
		"channels": ["a", "b"], "name": "js"
	}`
	var m proxyproto.ConnectRequest
	if err := Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	want := &proxyproto.ConnectRequest{Client: "c", Data: []byte(`{"nested": [1, {"a": "b"}]}`), Channels: []string{"a", "b"}, Name: "js"}
	if !proto.Equal(&m, want) {
		t.Errorf("got %v\nwant %v", &m, want)
	}

	var r apiproto.HistoryResponse
	if err := Unmarshal([]byte(`{"result":{"publications":[{"data":"str","offset":"18446744073709551615","tags":{"k":"v"}},{"offset":1e3}],"epoch":"e","offset":2}}`), &r); err != nil {
		t.Fatal(err)
	}
	pubs := r.GetResult().GetPublications()
	if len(pubs) != 2 || string(pubs[0].Data) != `"str"` || pubs[0].Offset != 1<<64-1 || pubs[0].Tags["k"] != "v" || pubs[1].Offset != 1000 || r.Result.Offset != 2 {
		t.Errorf("history = %v", &r)
	}

	var cmd apiproto.Command
	if err := Unmarshal([]byte(`{"method":"PRESENCE","presenceStats":{"channel":"c"}}`), &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.Method != apiproto.Command_PRESENCE || cmd.GetPresenceStats().GetChannel() != "c" {
		t.Errorf("command = %v", &cmd)
	}

	for _, bad := range []string{
		`[]`, `{"client": 1}`, `{"channels": "a"}`, `{"channels": [1]}`, `{"data": }`,
	} {
		var m proxyproto.ConnectRequest
		if err := Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s decoded as %v", bad, &m)
		}
	}
	for _, bad := range []string{
		`{"result":{"expire_at":1.5}}`, `{"result":{"expire_at":"x"}}`, `{"result":{"subs":{"a":1}}}`, `{"result":{"caps":[{"allow":"x"}]}}`,
	} {
		var m proxyproto.ConnectResponse
		if err := Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s decoded as %v", bad, &m)
		}
	}
	var n apiproto.NodeResult
	if err := Unmarshal([]byte(`{"num_clients": 4294967296}`), &n); err == nil {
		t.Error("uint32 overflow accepted")
	}
}

// Every message round-trips through the wire form.
func TestWireRoundTrip(t *testing.T) {
	msgs := []proto.Message{
		&proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{User: "u", ExpireAt: 1, Info: []byte(`{}`), Channels: []string{"c"},
			Subs: map[string]*proxyproto.SubscribeOptions{"s": {ExpireAt: 2, Override: &proxyproto.SubscribeOptionOverride{JoinLeave: &proxyproto.BoolValue{Value: true}}}},
			Caps: []*proxyproto.ChannelsCapability{{Channels: []string{"a"}, Allow: []string{"sub"}, Match: "m"}}}},
		&proxyproto.SubscribeResponse{Error: &proxyproto.Error{Code: 403, Message: "no", Temporary: true}},
		&proxyproto.PublishResponse{Disconnect: &proxyproto.Disconnect{Code: 4500, Reason: "r"}},
		&apiproto.BatchRequest{Parallel: true, Commands: []*apiproto.Command{{Publish: &apiproto.PublishRequest{Channel: "c", Data: []byte(`1`), Tags: map[string]string{"a": "b"}}}, {Info: &apiproto.InfoRequest{}}}},
		&apiproto.InfoResult{Nodes: []*apiproto.NodeResult{{Uid: "u", Uptime: 9, Metrics: &apiproto.Metrics{Interval: 0.25, Items: map[string]float64{"x": -1e-9}}, Process: &apiproto.Process{Cpu: 12.5, Rss: -1}}}},
	}
	for _, m := range msgs {
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := Unmarshal(b, got); err != nil {
			t.Fatalf("%T: %s: %v", m, b, err)
		}
		if !proto.Equal(got, m) {
			t.Errorf("%T: %s\n got %v\nwant %v", m, b, got, m)
		}
	}
}
