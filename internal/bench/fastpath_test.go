package bench

import (
	"bytes"
	"testing"

	"github.com/centrifugal/protocol"
)

// The publication fast path finds the same payload time as a full decode
// in the lines a server encodes, and leaves every other line to the decoder.
func TestJSONPubDataMatchesFullDecode(t *testing.T) {
	payload := appendPayload(nil, 1733318400123456789, 7, 100)
	enc := func(rep *protocol.Reply) []byte {
		b, err := protocol.DefaultJsonReplyEncoder.Encode(rep)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pubs := map[string]*protocol.Reply{
		"plain":       {Push: &protocol.Push{Channel: "bench_0", Pub: &protocol.Publication{Data: payload}}},
		"offset+info": {Push: &protocol.Push{Channel: "bench_12", Pub: &protocol.Publication{Data: payload, Offset: 5, Info: &protocol.ClientInfo{User: "u", Client: "c"}, Tags: map[string]string{"k": "v"}}}},
	}
	for name, rep := range pubs {
		line := enc(rep)
		data, ok := jsonPubData(line)
		if !ok {
			t.Fatalf("%s: %s not taken by the fast path", name, line)
		}
		if !bytes.HasPrefix(data, payload) {
			t.Fatalf("%s: data %s does not start with the payload %s", name, data, payload)
		}
		got, ok1 := payloadTime(data)
		want, ok2 := payloadTime(rep.Push.Pub.Data)
		if !ok1 || !ok2 || got != want {
			t.Fatalf("%s: fast path time %d (%v), full decode %d (%v)", name, got, ok1, want, ok2)
		}
	}
	others := map[string][]byte{
		"ping":          enc(&protocol.Reply{}),
		"reply":         enc(&protocol.Reply{Id: 3, Subscribe: &protocol.SubscribeResult{}}),
		"join":          enc(&protocol.Reply{Push: &protocol.Push{Channel: "c", Join: &protocol.Join{Info: &protocol.ClientInfo{User: "u"}}}}),
		"escaped name":  enc(&protocol.Reply{Push: &protocol.Push{Channel: `a"b`, Pub: &protocol.Publication{Data: payload}}}),
		"truncated":     []byte(`{"push":{"channel":"bench_0`),
		"other order":   []byte(`{"push":{"pub":{"data":{"t":1}},"channel":"x"}}`),
		"not a push":    []byte(`{"id":1,"error":{"code":100,"message":"internal server error"}}`),
		"unsubscribe":   enc(&protocol.Reply{Push: &protocol.Push{Channel: "c", Unsubscribe: &protocol.Unsubscribe{Code: 2000}}}),
		"empty":         nil,
		"whitespace in": []byte(`{"push": {"channel":"c","pub":{"data":{"t":1}}}}`),
	}
	for name, line := range others {
		if data, ok := jsonPubData(line); ok {
			t.Fatalf("%s: %s taken by the fast path (data %s)", name, line, data)
		}
	}
}
