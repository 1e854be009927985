package rotorproxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/proxyproto"
)

var expiry = time.Unix(1_900_000_000, 0)

// echoServices registers a service for every type that records the request
// it got and answers with every result field set.
func echoServices(srv *Server, got chan<- Request) {
	srv.OnConnect(func(_ context.Context, r *ConnectRequest) (*ConnectResult, error) {
		got <- r
		return &ConnectResult{
			User:     "u-" + r.Client,
			ExpireAt: expiry,
			Info:     []byte(`{"name":"Ann"}`),
			Data:     []byte(`{"hello":1}`),
			Channels: []string{"news"},
			Subs: map[string]SubscribeOptions{"user#42": {
				ExpireAt: expiry, Info: []byte(`{"i":1}`), Data: []byte(`"d"`),
				Override: &SubscribeOverride{Presence: Bool(true), JoinLeave: Bool(false)},
			}},
			Meta: json.RawMessage(`{"tenant":"t1"}`),
			Caps: []ChannelsCapability{{Channels: []string{"a"}, Allow: []string{"sub", "pub"}}, {Match: "b.*", Allow: []string{"hst"}}},
		}, nil
	})
	srv.OnRefresh(func(_ context.Context, r *RefreshRequest) (*RefreshResult, error) {
		got <- r
		return &RefreshResult{ExpireAt: expiry, Info: []byte(`{"v":2}`), Meta: json.RawMessage(`{"m":2}`),
			Caps: []ChannelsCapability{{Channels: []string{"c"}, Allow: []string{"sub"}}}}, nil
	})
	srv.OnSubscribe(func(_ context.Context, r *SubscribeRequest) (*SubscribeResult, error) {
		got <- r
		return &SubscribeResult{ExpireAt: expiry, Info: []byte(`{"seat":"A1"}`), Data: []byte(`[1,2]`),
			Override: &SubscribeOverride{ForceRecovery: Bool(true)}, Allow: []string{"pub", "prs"}}, nil
	})
	srv.OnPublish(func(_ context.Context, r *PublishRequest) (*PublishResult, error) {
		got <- r
		return &PublishResult{Data: []byte(`{"replaced":true}`), SkipHistory: true}, nil
	})
	srv.OnRPC(func(_ context.Context, r *RPCRequest) (*RPCResult, error) {
		got <- r
		return &RPCResult{Data: []byte(`{"method":"` + r.Method + `"}`)}, nil
	})
	srv.OnSubRefresh(func(_ context.Context, r *SubRefreshRequest) (*SubRefreshResult, error) {
		got <- r
		return &SubRefreshResult{Expired: true, ExpireAt: expiry, Info: []byte(`{"x":0}`)}, nil
	})
}

func TestRoundTripEveryType(t *testing.T) {
	h := newHarness(t)
	got := make(chan Request, 1)
	echoServices(h.srv, got)
	hdr := map[string]string{"x-real-ip": "10.0.0.7", "authorization": "Bearer abc"}
	head := func(encoding string) (string, string, string, string) {
		return "client-1", "websocket", "json", encoding
	}

	type tc struct {
		method   string
		in       proto.Message
		out      proto.Message
		wantReq  Request
		wantResp proto.Message
	}
	cl, tr, pr, en := head("json")
	base := Common{Client: cl, Transport: tr, Protocol: pr, Encoding: en}
	cases := []tc{
		{
			method: "Connect",
			in: &proxyproto.ConnectRequest{Client: cl, Transport: tr, Protocol: pr, Encoding: en,
				Data: []byte(`{"authToken":"tok"}`), Name: "js", Version: "5.0.0", Channels: []string{"a", "b"}},
			out:     &proxyproto.ConnectResponse{},
			wantReq: &ConnectRequest{Common: base, Data: []byte(`{"authToken":"tok"}`), Name: "js", Version: "5.0.0", Channels: []string{"a", "b"}},
			wantResp: &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
				User: "u-client-1", ExpireAt: expiry.Unix(), Info: []byte(`{"name":"Ann"}`), Data: []byte(`{"hello":1}`),
				Channels: []string{"news"},
				Subs: map[string]*proxyproto.SubscribeOptions{"user#42": {
					ExpireAt: expiry.Unix(), Info: []byte(`{"i":1}`), Data: []byte(`"d"`),
					Override: &proxyproto.SubscribeOptionOverride{Presence: &proxyproto.BoolValue{Value: true}, JoinLeave: &proxyproto.BoolValue{}},
				}},
				Meta: []byte(`{"tenant":"t1"}`),
				Caps: []*proxyproto.ChannelsCapability{{Channels: []string{"a"}, Allow: []string{"sub", "pub"}}, {Match: "b.*", Allow: []string{"hst"}}},
			}},
		},
		{
			method:  "Refresh",
			in:      &proxyproto.RefreshRequest{Client: cl, Transport: tr, Protocol: pr, Encoding: en, User: "42", Meta: []byte(`{"m":1}`)},
			out:     &proxyproto.RefreshResponse{},
			wantReq: &RefreshRequest{Common: base, User: "42", Meta: json.RawMessage(`{"m":1}`)},
			wantResp: &proxyproto.RefreshResponse{Result: &proxyproto.RefreshResult{ExpireAt: expiry.Unix(), Info: []byte(`{"v":2}`), Meta: []byte(`{"m":2}`),
				Caps: []*proxyproto.ChannelsCapability{{Channels: []string{"c"}, Allow: []string{"sub"}}}}},
		},
		{
			method: "Subscribe",
			in: &proxyproto.SubscribeRequest{Client: cl, Transport: tr, Protocol: pr, Encoding: en,
				User: "42", Channel: "screening.7", Token: "subtok", Meta: []byte(`{"m":1}`), Data: []byte(`{"seat":1}`)},
			out:     &proxyproto.SubscribeResponse{},
			wantReq: &SubscribeRequest{Common: base, User: "42", Channel: "screening.7", Token: "subtok", Meta: json.RawMessage(`{"m":1}`), Data: []byte(`{"seat":1}`)},
			wantResp: &proxyproto.SubscribeResponse{Result: &proxyproto.SubscribeResult{ExpireAt: expiry.Unix(), Info: []byte(`{"seat":"A1"}`), Data: []byte(`[1,2]`),
				Override: &proxyproto.SubscribeOptionOverride{ForceRecovery: &proxyproto.BoolValue{Value: true}}, Allow: []string{"pub", "prs"}}},
		},
		{
			method: "Publish",
			in: &proxyproto.PublishRequest{Client: cl, Transport: tr, Protocol: pr, Encoding: en,
				User: "42", Channel: "chat", Data: []byte(`{"text":"hi"}`), Meta: []byte(`{"m":1}`)},
			out:      &proxyproto.PublishResponse{},
			wantReq:  &PublishRequest{Common: base, User: "42", Channel: "chat", Data: []byte(`{"text":"hi"}`), Meta: json.RawMessage(`{"m":1}`)},
			wantResp: &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{Data: []byte(`{"replaced":true}`), SkipHistory: true}},
		},
		{
			method: "RPC",
			in: &proxyproto.RPCRequest{Client: cl, Transport: tr, Protocol: pr, Encoding: en,
				User: "42", Method: "cinema.schedule", Data: []byte(`{"day":3}`), Meta: []byte(`{"m":1}`)},
			out:      &proxyproto.RPCResponse{},
			wantReq:  &RPCRequest{Common: base, User: "42", Method: "cinema.schedule", Data: []byte(`{"day":3}`), Meta: json.RawMessage(`{"m":1}`)},
			wantResp: &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{Data: []byte(`{"method":"cinema.schedule"}`)}},
		},
		{
			method:   "SubRefresh",
			in:       &proxyproto.SubRefreshRequest{Client: cl, Transport: tr, Protocol: pr, Encoding: en, User: "42", Channel: "screening.7", Meta: []byte(`{"m":1}`)},
			out:      &proxyproto.SubRefreshResponse{},
			wantReq:  &SubRefreshRequest{Common: base, User: "42", Channel: "screening.7", Meta: json.RawMessage(`{"m":1}`)},
			wantResp: &proxyproto.SubRefreshResponse{Result: &proxyproto.SubRefreshResult{Expired: true, ExpireAt: expiry.Unix(), Info: []byte(`{"x":0}`)}},
		},
	}
	h.forEachWire(t, func(t *testing.T, w wire) {
		for _, c := range cases {
			t.Run(c.method, func(t *testing.T) {
				out := proto.Clone(c.out)
				if err := w.call(testCtx(t), c.method, c.in, out, hdr); err != nil {
					t.Fatalf("call: %v", err)
				}
				if !proto.Equal(out, c.wantResp) {
					t.Errorf("response:\n got %v\nwant %v", out, c.wantResp)
				}
				req := <-got
				b := req.Base()
				if b.Headers.Get("X-Real-Ip") != "10.0.0.7" || b.Headers.Get("Authorization") != "Bearer abc" {
					t.Errorf("headers = %v, want X-Real-Ip and Authorization", b.Headers)
				}
				b.Headers = nil // compared above; the rest of the headers depend on the wire
				if !reflect.DeepEqual(req, c.wantReq) {
					t.Errorf("request:\n got %#v\nwant %#v", req, c.wantReq)
				}
				if req.Type() != c.wantReq.Type() {
					t.Errorf("type = %q", req.Type())
				}
			})
		}
	})
}

// In binary encoding payloads arrive base64-encoded in the b64 fields; the
// service sees the bytes, and its answer goes back in the b64 fields.
func TestRoundTripBinaryEncoding(t *testing.T) {
	h := newHarness(t)
	binary := []byte{0xff, 0x00, 0x01}
	h.srv.OnRPC(func(_ context.Context, r *RPCRequest) (*RPCResult, error) {
		if string(r.Data) != string(binary) {
			t.Errorf("data = %x, want %x", r.Data, binary)
		}
		return &RPCResult{Data: append([]byte{0xfe}, r.Data...)}, nil
	})
	h.srv.OnConnect(func(_ context.Context, r *ConnectRequest) (*ConnectResult, error) {
		return &ConnectResult{User: "u", Info: []byte{0x01}, Data: []byte{0x02},
			Subs: map[string]SubscribeOptions{"c": {Info: []byte{0x03}}}}, nil
	})
	h.forEachWire(t, func(t *testing.T, w wire) {
		in := &proxyproto.RPCRequest{Client: "c", Transport: "websocket", Protocol: "protobuf", Encoding: "binary",
			Method: "m", B64Data: base64.StdEncoding.EncodeToString(binary)}
		out := &proxyproto.RPCResponse{}
		if err := w.call(testCtx(t), "RPC", in, out, nil); err != nil {
			t.Fatal(err)
		}
		want := base64.StdEncoding.EncodeToString([]byte{0xfe, 0xff, 0x00, 0x01})
		if out.Result.GetB64Data() != want || len(out.Result.GetData()) != 0 {
			t.Errorf("result = %v, want b64data %s", out.Result, want)
		}

		cin := &proxyproto.ConnectRequest{Client: "c", Protocol: "protobuf", Encoding: "binary"}
		cout := &proxyproto.ConnectResponse{}
		if err := w.call(testCtx(t), "Connect", cin, cout, nil); err != nil {
			t.Fatal(err)
		}
		r := cout.Result
		if r.GetB64Info() != "AQ==" || r.GetB64Data() != "Ag==" || r.Subs["c"].GetB64Info() != "Aw==" || r.Info != nil || r.Data != nil {
			t.Errorf("connect result = %v, want payloads in b64 fields", r)
		}
	})
}

// A body as the HTTP proxy of a node sends it: data embedded as JSON; the
// answer embeds the result data the same way.
func TestHTTPLiteralJSON(t *testing.T) {
	h := newHarness(t)
	h.srv.OnRPC(func(_ context.Context, r *RPCRequest) (*RPCResult, error) {
		var in struct{ ID int }
		if err := r.Bind(&in); err != nil {
			return nil, err
		}
		return &RPCResult{Data: []byte(fmt.Sprintf(`{"id":%d,"user":%q}`, in.ID, r.User))}, nil
	})
	body := `{"client":"c9","transport":"websocket","protocol":"json","encoding":"json","user":"7","method":"get","data":{"id":12}}`
	resp, err := h.post(testCtx(t), "/centrifugo/rpc", []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != 200 || resp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", resp.status, resp.header.Get("Content-Type"))
	}
	if want := `{"result":{"data":{"id":12,"user":"7"}}}`; string(resp.body) != want {
		t.Errorf("body = %s, want %s", resp.body, want)
	}
}

func TestHTTPStatuses(t *testing.T) {
	h := newHarness(t, WithMaxBodySize(64))
	h.srv.OnConnect(func(context.Context, *ConnectRequest) (*ConnectResult, error) { return &ConnectResult{}, nil })
	ctx := testCtx(t)
	for _, c := range []struct {
		name, path, body string
		status           int
	}{
		{"unknown path", "/nope", `{}`, 404},
		{"not json", "/connect", `{"client":`, 400},
		{"too big", "/connect", `{"data":"` + string(make([]byte, 100)) + `"}`, 413},
		{"subrefresh alias", "/x/subrefresh", `{}`, 200},
		{"empty object", "/connect", `{}`, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := h.post(ctx, c.path, []byte(c.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != c.status {
				t.Errorf("status = %d (%s), want %d", resp.status, resp.body, c.status)
			}
		})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.http.URL+"/connect", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
