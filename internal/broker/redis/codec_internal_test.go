package redis

import (
	"fmt"
	"testing"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/broker/brokertest"
)

func testEngine(t testing.TB) (*Engine, *brokertest.Recorder) {
	rec := brokertest.NewRecorder()
	return &Engine{prefix: "p", clientPrefix: "p.client.", controlChannel: "p.control", handler: rec}, rec
}

func TestHandleMessage(t *testing.T) {
	t.Parallel()
	e, rec := testEngine(t)
	pub, _ := (&protocol.Publication{Data: []byte(`{"a":1}`), Delta: true, Tags: map[string]string{"k": "v"}}).MarshalVT()
	info, _ := (&protocol.ClientInfo{User: "u", Client: "c"}).MarshalVT()

	if err := e.handleMessage("p.client.ch", "__p1:7:ep__"+string(pub)); err != nil {
		t.Fatal(err)
	}
	ev := rec.Wait(t, "pub", "ch", 1)[0]
	if ev.Pub.Offset != 7 || ev.SP.Offset != 7 || ev.SP.Epoch != "ep" || !ev.Delta || string(ev.Pub.Data) != `{"a":1}` || ev.Pub.Tags["k"] != "v" {
		t.Fatalf("publication with history: %+v %+v", ev, ev.Pub)
	}
	if err := e.handleMessage("p.client.ch", "__p1:0:__"+string(pub)); err != nil {
		t.Fatal(err)
	}
	if ev := rec.Wait(t, "pub", "ch", 2)[1]; ev.Pub.Offset != 0 || ev.SP.Epoch != "" {
		t.Fatalf("publication without history: %+v", ev)
	}
	if err := e.handleMessage("p.client.a.b:c", "__j__"+string(info)); err != nil {
		t.Fatal(err)
	}
	if ev := rec.Wait(t, "join", "a.b:c", 1)[0]; ev.Info.User != "u" || ev.Info.Client != "c" {
		t.Fatalf("join %+v", ev.Info)
	}
	if err := e.handleMessage("p.client.x", "__l__"+string(info)); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, "leave", "x", 1)

	bad := []struct{ channel, payload string }{
		{"other.ch", "__p1:1:e__"},
		{"p.client.ch", "plain"},
		{"p.client.ch", "__p1:1:e"},
		{"p.client.ch", "__p1:x:e__"},
		{"p.client.ch", "__p1:1__"},
		{"p.client.ch", "__p1:1:e__\xff\xff"},
		{"p.client.ch", "__j__\xff"},
	}
	for _, b := range bad {
		if err := e.handleMessage(b.channel, b.payload); err == nil {
			t.Errorf("handleMessage(%q, %q) accepted", b.channel, b.payload)
		}
	}
}

func FuzzHandleMessage(f *testing.F) {
	pub, _ := (&protocol.Publication{Data: []byte(`{}`)}).MarshalVT()
	f.Add("__p1:3:abc__" + string(pub))
	f.Add("__j__")
	f.Add("__p1:")
	f.Fuzz(func(t *testing.T, payload string) {
		e, _ := testEngine(t)
		_ = e.handleMessage("p.client.ch", payload)
	})
}

func TestShardIndex(t *testing.T) {
	t.Parallel()
	const keys = 10000
	// Going from n to n+1 shards moves channels only to the new shard,
	// and about 1/(n+1) of them.
	for n := 1; n < 6; n++ {
		moved := 0
		counts := make([]int, n+1)
		for i := range keys {
			ch := fmt.Sprint("channel-", i)
			before, after := shardIndex(ch, n), shardIndex(ch, n+1)
			counts[after]++
			if before != after {
				if after != n {
					t.Fatalf("%s moved from shard %d to %d, not to the new shard %d", ch, before, after, n)
				}
				moved++
			}
		}
		if want := keys / (n + 1); moved < want*8/10 || moved > want*12/10 {
			t.Errorf("%d -> %d shards moved %d channels, want about %d", n, n+1, moved, want)
		}
		for s, c := range counts {
			if c < keys/(n+1)*8/10 {
				t.Errorf("%d shards: shard %d has %d channels", n+1, s, c)
			}
		}
	}
	if shardIndex("x", 1) != 0 || shardIndex("x", 0) != 0 {
		t.Fatal("one shard must be shard 0")
	}
}
