package wirejson

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/proxyproto"
)

// TestMarshalJSON checks the request JSON an HTTP backend receives: proto
// field names, zero fields left out, bytes embedded as JSON.
func TestMarshalProxyMessages(t *testing.T) {
	t.Parallel()
	got, err := Marshal(&proxyproto.ConnectRequest{
		Client: "c", Transport: "websocket", Protocol: "protobuf", Encoding: "json",
		Data: []byte(`{"token": "a\"b"}`), Name: "js", Channels: []string{"x", "y"},
	})
	const want = `{"client":"c","transport":"websocket","protocol":"protobuf","encoding":"json","data":{"token": "a\"b"},"name":"js","channels":["x","y"]}`
	if err != nil || string(got) != want {
		t.Errorf("Marshal = %s, %v\nwant %s", got, err, want)
	}

	got, err = Marshal(&proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
		ExpireAt: -1,
		Subs:     map[string]*proxyproto.SubscribeOptions{"b": {}, "a": {Override: &proxyproto.SubscribeOptionOverride{Presence: &proxyproto.BoolValue{}}}},
	}, Error: &proxyproto.Error{Code: 4294967295, Message: "<&>"}})
	const want2 = `{"result":{"expire_at":-1,"subs":{"a":{"override":{"presence":{}}},"b":{}}},"error":{"code":4294967295,"message":"\u003c\u0026\u003e"}}`
	if err != nil || string(got) != want2 {
		t.Errorf("Marshal = %s, %v\nwant %s", got, err, want2)
	}

	// Bytes that are not JSON go to the b64 twin when there is one...
	if got, err := Marshal(&proxyproto.RPCRequest{Data: []byte("not json")}); err != nil || string(got) != `{"b64data":"bm90IGpzb24="}` {
		t.Errorf("Marshal with non-JSON data = %s, %v; want it in b64data", got, err)
	}
	// ...and are an error naming the field when there is none.
	if _, err := Marshal(&proxyproto.ConnectResult{Meta: []byte("not json")}); err == nil || !strings.Contains(err.Error(), "meta") {
		t.Errorf("Marshal with non-JSON meta: err = %v, want an error naming meta", err)
	}
}

// TestUnMarshal decodes answers written by hand, as backends in other
// languages write them.
func TestUnMarshal(t *testing.T) {
	t.Parallel()
	const answer = `{
		"result": {
			"user": "42",
			"expire_at": "1700000000",
			"info": {"a": [1, 2]},
			"data": "text",
			"channels": ["x", null],
			"subs": {"s": {"expireAt": 1.7e9, "info": null, "override": {"presence": {"value": true}}}},
			"meta": {"k": "v"},
			"caps": [{"channels": ["c"], "allow": ["sub"]}],
			"added_later": {"deep": [1]}
		},
		"error": null
	}`
	var resp proxyproto.ConnectResponse
	if err := Unmarshal([]byte(answer), &resp); err != nil {
		t.Fatal(err)
	}
	want := &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
		User: "42", ExpireAt: 1700000000, Info: []byte(`{"a": [1, 2]}`), Data: []byte(`"text"`),
		Channels: []string{"x", ""},
		Subs: map[string]*proxyproto.SubscribeOptions{"s": {ExpireAt: 1700000000,
			Override: &proxyproto.SubscribeOptionOverride{Presence: &proxyproto.BoolValue{Value: true}}}},
		Meta: []byte(`{"k": "v"}`),
		Caps: []*proxyproto.ChannelsCapability{{Channels: []string{"c"}, Allow: []string{"sub"}}},
	}}
	if !proto.Equal(&resp, want) {
		t.Errorf("unMarshal =\n%v\nwant\n%v", &resp, want)
	}

	for _, bad := range []string{
		`[]`, `{"result": 1}`, `{"result": {"user": 1}}`, `{"result": {"expire_at": 1.5}}`,
		`{"error": {"code": -1}}`, `{"error": {"code": 4294967296}}`, `{"result": {"channels": "x"}}`,
		`{"result": {"subs": []}}`, `{"result": {"info": }}`,
	} {
		if err := Unmarshal([]byte(bad), &proxyproto.ConnectResponse{}); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

// TestJSONRoundTrip encodes and decodes every response message.
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []proto.Message{
		&proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{User: "u", ExpireAt: 1, Info: []byte(`1`), B64Info: "AQ==", Data: []byte(`[]`),
			Channels: []string{"a"}, Subs: map[string]*proxyproto.SubscribeOptions{"a": {ExpireAt: 2, Data: []byte(`{}`)}}, Meta: []byte(`{}`)}},
		&proxyproto.RefreshResponse{Result: &proxyproto.RefreshResult{Expired: true, ExpireAt: 3, Info: []byte(`"x"`), Meta: []byte(`{"a":1}`)}},
		&proxyproto.SubscribeResponse{Result: &proxyproto.SubscribeResult{ExpireAt: 4, Info: []byte(`true`), Allow: []string{"pub"},
			Override: &proxyproto.SubscribeOptionOverride{JoinLeave: &proxyproto.BoolValue{Value: true}}}},
		&proxyproto.PublishResponse{Result: &proxyproto.PublishResult{Data: []byte(`0`), SkipHistory: true}},
		&proxyproto.RPCResponse{Error: &proxyproto.Error{Code: 1000, Message: "m", Temporary: true}},
		&proxyproto.SubRefreshResponse{Disconnect: &proxyproto.Disconnect{Code: 4500, Reason: "r"}},
	} {
		data, err := Marshal(m)
		if err != nil {
			t.Errorf("Marshal(%v): %v", m, err)
			continue
		}
		got := m.ProtoReflect().New().Interface()
		if err := Unmarshal(data, got); err != nil || !proto.Equal(got, m) {
			t.Errorf("round trip of %s: %v, %v", data, got, err)
		}
	}
}

// FuzzUnMarshal checks that no answer body makes the decoder panic, and
// that what it accepts encodes again.
func FuzzUnMarshal(f *testing.F) {
	for _, s := range []string{`{"result":{"user":"u","subs":{"a":{"info":{}}}}}`, `{"error":{"code":1}}`, `{"disconnect":{"code":"4500"}}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp proxyproto.ConnectResponse
		if Unmarshal(data, &resp) != nil {
			return
		}
		if _, err := Marshal(&resp); err != nil && !errors.Is(err, ErrNotJSON) {
			t.Errorf("decoded answer does not encode: %v", err)
		}
	})
}
