package api

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/rotorhq/rotor/apiproto"
)

var trickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "new\nline\ttab\rcr", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "ünïcödé ✓ 🚀", "bad utf8 \xff\xfe end", "line sep \u2028 para \u2029",
	"\xed\xa0\x80 surrogate half", "\b\f backspace formfeed",
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range trickyStrings {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendRaw(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"a":1}`:                `{"a":1}`,
		`{"a": "b c"}`:           `{"a": "b c"}`,
		"{\n \"a\": [1,\n 2]\n}": `{"a":[1,2]}`,
		`"str"`:                  `"str"`,
		"not json":               `"bm90IGpzb24="`,
		"\x00\x01":               `"AAE="`,
		`{"a":1} {"b":2}`:        `"eyJhIjoxfSB7ImIiOjJ9"`,
	} {
		if got := string(appendRaw(nil, []byte(in))); got != want {
			t.Errorf("appendRaw(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRawBytesCompacts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		``:        ``,
		`{"a":1}`: `{"a":1}`,
		"{ \"a\" : [ 1 , 2 ] ,\n\"s\": \"x y\" }": `{"a":[1,2],"s":"x y"}`,
		`null`: `null`,
	} {
		if got := string(rawBytes(json.RawMessage(in))); got != want {
			t.Errorf("rawBytes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, 1, -1.5, 0.1, 1e-7, 123456789, 1e21, 3.14159e300, -2.5e-10} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(appendFloat(nil, f)); got != "0" {
			t.Errorf("appendFloat(%v) = %s", f, got)
		}
	}
}

func TestAppendInfoWithMetricsAndProcess(t *testing.T) {
	t.Parallel()
	r := &apiproto.InfoResult{Nodes: []*apiproto.NodeResult{{
		Uid: "u", Name: "n", Version: "v", NumClients: 1,
		Metrics: &apiproto.Metrics{Interval: 60, Items: map[string]float64{"b": 0.5, "a": 2}},
		Process: &apiproto.Process{Cpu: 1.25, Rss: 1024},
	}}}
	want := `{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":1,"num_users":0,"num_channels":0,` +
		`"metrics":{"interval":60,"items":{"a":2,"b":0.5}},"process":{"cpu":1.25,"rss":1024},"num_subs":0}]}`
	if got := string(appendInfoResult(nil, r)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(appendInfoResult(nil, &apiproto.InfoResult{})); got != `{}` {
		t.Errorf("empty info: %s", got)
	}
}

func TestJSONMethod(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]apiproto.Command_MethodType{
		`"publish"`:        apiproto.Command_PUBLISH,
		`"Presence_Stats"`: apiproto.Command_PRESENCE_STATS,
		`"HISTORY_REMOVE"`: apiproto.Command_HISTORY_REMOVE,
		`11`:               apiproto.Command_SUBSCRIBE,
		`"unknown"`:        -1,
		`null`:             apiproto.Command_PUBLISH,
	} {
		var m jsonMethod
		if err := json.Unmarshal([]byte(in), &m); err != nil || apiproto.Command_MethodType(m) != want {
			t.Errorf("%s: %v %v, want %v", in, m, err, want)
		}
	}
	var m jsonMethod
	if err := json.Unmarshal([]byte(`1.5`), &m); err == nil {
		t.Error("1.5 accepted as a method")
	}
}

func TestJSONOverride(t *testing.T) {
	t.Parallel()
	var j jsonSubscribeRequest
	in := `{"override":{"presence":{"value":true},"join_leave":{"value":false},"force_recovery":true,"force_positioning":null}}`
	if err := json.Unmarshal([]byte(in), &j); err != nil {
		t.Fatal(err)
	}
	o := j.proto().Override
	if !o.GetPresence().GetValue() || o.GetJoinLeave() == nil || o.GetJoinLeave().GetValue() ||
		!o.GetForceRecovery().GetValue() || o.GetForcePositioning() != nil || o.GetForcePushJoinLeave() != nil {
		t.Errorf("override %v", o)
	}
}

func TestMethodTableCoversEveryMethod(t *testing.T) {
	t.Parallel()
	names := []string{"publish", "broadcast", "subscribe", "unsubscribe", "disconnect", "presence", "presence_stats",
		"history", "history_remove", "info", "rpc", "refresh", "channels"}
	if len(methodsByName) != len(names) || len(methodsByType) != len(names) {
		t.Fatalf("table has %d names, %d types", len(methodsByName), len(methodsByType))
	}
	for _, n := range names {
		m := methodsByName[n]
		if m == nil {
			t.Fatalf("no %s", n)
		}
		c := &apiproto.Command{}
		if err := m.decode(nil, c); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if got := resultKey(newExecutorForTable(t).command(t.Context(), c)); got != "" && got != n {
			t.Errorf("%s: reply field %q", n, got)
		}
	}
}

func newExecutorForTable(t *testing.T) *Executor {
	return newTestExecutor(t, &fakeNode{})
}
