package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/rotorhq/rotor/apiproto"
)

// Results are written by hand into a byte slice: no reflection, fields in a
// fixed order, and the exact omission rules of Centrifugo's HTTP API – every
// field is left out when empty except those that Centrifugo always writes
// (ClientInfo user/client, presence, num_clients/num_users of presence
// stats, publications/epoch/offset of history, the node counters and names
// of info, and channels). Embedded JSON values (data, conn_info, chan_info)
// are copied as compact JSON; bytes that are not valid JSON (binary sent over
// gRPC, say) are written as a base64 string so that the reply stays valid.

// obj writes the members of one JSON object, adding commas between them.
// key takes constant ASCII names only; names from data go through mapKey.
type obj struct {
	b []byte
	n int
}

func openObj(b []byte) obj { return obj{b: append(b, '{')} }

func (o *obj) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

// mapKey starts a member whose name comes from data (a map key), escaped.
func (o *obj) mapKey(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = appendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *obj) close() []byte { return append(o.b, '}') }

func (o *obj) str(k, v string) {
	o.key(k)
	o.b = appendString(o.b, v)
}

func (o *obj) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *obj) uint(k string, v uint64) {
	o.key(k)
	o.b = strconv.AppendUint(o.b, v, 10)
}

func (o *obj) uintOmit(k string, v uint64) {
	if v != 0 {
		o.uint(k, v)
	}
}

func (o *obj) rawOmit(k string, v []byte) {
	if len(v) > 0 {
		o.key(k)
		o.b = appendRaw(o.b, v)
	}
}

func (o *obj) tagsOmit(k string, tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	o.key(k)
	m := openObj(o.b)
	for _, name := range sortedKeys(tags) {
		m.mapKey(name)
		m.b = appendString(m.b, tags[name])
	}
	o.b = m.close()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendError writes {"code":…,"message":…}.
func appendError(b []byte, e *apiproto.Error) []byte {
	o := openObj(b)
	o.uint("code", uint64(e.GetCode()))
	o.strOmit("message", e.GetMessage())
	return o.close()
}

// appendResultOf writes the result held by rep: whichever typed result field
// is set, {} when none is.
func appendResultOf(b []byte, rep *apiproto.Reply) []byte {
	switch {
	case rep.Publish != nil:
		return appendPublishResult(b, rep.Publish)
	case rep.Broadcast != nil:
		return appendBroadcastResult(b, rep.Broadcast)
	case rep.Presence != nil:
		return appendPresenceResult(b, rep.Presence)
	case rep.PresenceStats != nil:
		return appendPresenceStatsResult(b, rep.PresenceStats)
	case rep.History != nil:
		return appendHistoryResult(b, rep.History)
	case rep.Info != nil:
		return appendInfoResult(b, rep.Info)
	case rep.Rpc != nil:
		return appendRPCResult(b, rep.Rpc)
	case rep.Channels != nil:
		return appendChannelsResult(b, rep.Channels)
	default:
		// subscribe, unsubscribe, disconnect, history_remove and refresh
		// results have no fields.
		return append(b, '{', '}')
	}
}

// hasResult reports whether rep holds any typed result.
func hasResult(rep *apiproto.Reply) bool {
	return rep.Publish != nil || rep.Broadcast != nil || rep.Subscribe != nil || rep.Unsubscribe != nil ||
		rep.Disconnect != nil || rep.Presence != nil || rep.PresenceStats != nil || rep.History != nil ||
		rep.HistoryRemove != nil || rep.Info != nil || rep.Rpc != nil || rep.Refresh != nil || rep.Channels != nil
}

// resultKey is the name of the result field set in rep ("" when none).
func resultKey(rep *apiproto.Reply) string {
	switch {
	case rep.Publish != nil:
		return "publish"
	case rep.Broadcast != nil:
		return "broadcast"
	case rep.Subscribe != nil:
		return "subscribe"
	case rep.Unsubscribe != nil:
		return "unsubscribe"
	case rep.Disconnect != nil:
		return "disconnect"
	case rep.Presence != nil:
		return "presence"
	case rep.PresenceStats != nil:
		return "presence_stats"
	case rep.History != nil:
		return "history"
	case rep.HistoryRemove != nil:
		return "history_remove"
	case rep.Info != nil:
		return "info"
	case rep.Rpc != nil:
		return "rpc"
	case rep.Refresh != nil:
		return "refresh"
	case rep.Channels != nil:
		return "channels"
	}
	return ""
}

// appendResponse writes a method response: {"error":…} or {"result":…}.
func appendResponse(b []byte, rep *apiproto.Reply) []byte {
	o := openObj(b)
	if rep.Error != nil {
		o.key("error")
		o.b = appendError(o.b, rep.Error)
	} else {
		o.key("result")
		o.b = appendResultOf(o.b, rep)
	}
	return o.close()
}

// appendLegacyReply writes one reply line of the older format:
// {"id":…,"error":…} or {"id":…,"result":…}, id left out when 0.
func appendLegacyReply(b []byte, rep *apiproto.Reply) []byte {
	o := openObj(b)
	o.uintOmit("id", uint64(rep.Id))
	if rep.Error != nil {
		o.key("error")
		o.b = appendError(o.b, rep.Error)
	} else if hasResult(rep) {
		o.key("result")
		o.b = appendResultOf(o.b, rep)
	}
	return o.close()
}

// appendBatchResponse writes {"replies":[…]}, each reply holding its id,
// error or its result under the method's name ({"publish":{}}).
func appendBatchResponse(b []byte, resp *apiproto.BatchResponse) []byte {
	o := openObj(b)
	o.key("replies")
	o.b = append(o.b, '[')
	for i, rep := range resp.GetReplies() {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		r := openObj(o.b)
		r.uintOmit("id", uint64(rep.GetId()))
		if rep.GetError() != nil {
			r.key("error")
			r.b = appendError(r.b, rep.Error)
		} else if k := resultKey(rep); k != "" {
			r.key(k)
			r.b = appendResultOf(r.b, rep)
		}
		o.b = r.close()
	}
	o.b = append(o.b, ']')
	return o.close()
}

func appendPublishResult(b []byte, r *apiproto.PublishResult) []byte {
	o := openObj(b)
	o.uintOmit("offset", r.GetOffset())
	o.strOmit("epoch", r.GetEpoch())
	return o.close()
}

func appendBroadcastResult(b []byte, r *apiproto.BroadcastResult) []byte {
	o := openObj(b)
	if resps := r.GetResponses(); len(resps) > 0 {
		o.key("responses")
		o.b = append(o.b, '[')
		for i, pr := range resps {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			p := openObj(o.b)
			if pr.GetError() != nil {
				p.key("error")
				p.b = appendError(p.b, pr.Error)
			}
			if pr.GetResult() != nil {
				p.key("result")
				p.b = appendPublishResult(p.b, pr.Result)
			}
			o.b = p.close()
		}
		o.b = append(o.b, ']')
	}
	return o.close()
}

func appendClientInfo(b []byte, ci *apiproto.ClientInfo) []byte {
	o := openObj(b)
	o.str("user", ci.GetUser())
	o.str("client", ci.GetClient())
	o.rawOmit("conn_info", ci.GetConnInfo())
	o.rawOmit("chan_info", ci.GetChanInfo())
	return o.close()
}

func appendPresenceResult(b []byte, r *apiproto.PresenceResult) []byte {
	o := openObj(b)
	o.key("presence")
	p := openObj(o.b)
	for _, id := range sortedKeys(r.GetPresence()) {
		p.mapKey(id)
		p.b = appendClientInfo(p.b, r.Presence[id])
	}
	o.b = p.close()
	return o.close()
}

func appendPresenceStatsResult(b []byte, r *apiproto.PresenceStatsResult) []byte {
	o := openObj(b)
	o.uint("num_clients", uint64(r.GetNumClients()))
	o.uint("num_users", uint64(r.GetNumUsers()))
	return o.close()
}

func appendPublication(b []byte, p *apiproto.Publication) []byte {
	o := openObj(b)
	o.rawOmit("data", p.GetData())
	if p.GetInfo() != nil {
		o.key("info")
		o.b = appendClientInfo(o.b, p.Info)
	}
	o.uintOmit("offset", p.GetOffset())
	o.tagsOmit("tags", p.GetTags())
	return o.close()
}

func appendHistoryResult(b []byte, r *apiproto.HistoryResult) []byte {
	o := openObj(b)
	o.key("publications")
	o.b = append(o.b, '[')
	for i, p := range r.GetPublications() {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendPublication(o.b, p)
	}
	o.b = append(o.b, ']')
	o.str("epoch", r.GetEpoch())
	o.uint("offset", r.GetOffset())
	return o.close()
}

func appendInfoResult(b []byte, r *apiproto.InfoResult) []byte {
	o := openObj(b)
	if nodes := r.GetNodes(); len(nodes) > 0 {
		o.key("nodes")
		o.b = append(o.b, '[')
		for i, n := range nodes {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendNodeResult(o.b, n)
		}
		o.b = append(o.b, ']')
	}
	return o.close()
}

func appendNodeResult(b []byte, n *apiproto.NodeResult) []byte {
	o := openObj(b)
	o.str("uid", n.GetUid())
	o.str("name", n.GetName())
	o.str("version", n.GetVersion())
	o.uint("num_clients", uint64(n.GetNumClients()))
	o.uint("num_users", uint64(n.GetNumUsers()))
	o.uint("num_channels", uint64(n.GetNumChannels()))
	o.uintOmit("uptime", uint64(n.GetUptime()))
	if m := n.GetMetrics(); m != nil {
		o.key("metrics")
		mo := openObj(o.b)
		if m.Interval != 0 {
			mo.key("interval")
			mo.b = appendFloat(mo.b, m.Interval)
		}
		if len(m.Items) > 0 {
			mo.key("items")
			items := openObj(mo.b)
			for _, k := range sortedKeys(m.Items) {
				items.mapKey(k)
				items.b = appendFloat(items.b, m.Items[k])
			}
			mo.b = items.close()
		}
		o.b = mo.close()
	}
	if p := n.GetProcess(); p != nil {
		o.key("process")
		po := openObj(o.b)
		if p.Cpu != 0 {
			po.key("cpu")
			po.b = appendFloat(po.b, p.Cpu)
		}
		if p.Rss != 0 {
			po.key("rss")
			po.b = strconv.AppendInt(po.b, p.Rss, 10)
		}
		o.b = po.close()
	}
	o.uint("num_subs", uint64(n.GetNumSubs()))
	return o.close()
}

func appendRPCResult(b []byte, r *apiproto.RPCResult) []byte {
	o := openObj(b)
	o.rawOmit("data", r.GetData())
	return o.close()
}

func appendChannelsResult(b []byte, r *apiproto.ChannelsResult) []byte {
	o := openObj(b)
	o.key("channels")
	c := openObj(o.b)
	for _, name := range sortedKeys(r.GetChannels()) {
		c.mapKey(name)
		info := openObj(c.b)
		info.uintOmit("num_clients", uint64(r.Channels[name].GetNumClients()))
		c.b = info.close()
	}
	o.b = c.close()
	return o.close()
}

// appendRaw writes an embedded JSON value: as is when it is valid JSON on
// one line, compacted when it spans lines, and as a base64 string when it is
// not JSON at all.
func appendRaw(b []byte, v []byte) []byte {
	if !json.Valid(v) {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, '"')
	}
	if bytes.IndexAny(v, "\r\n") < 0 {
		return append(b, v...)
	}
	buf := bytes.NewBuffer(b)
	_ = json.Compact(buf, v) // v is valid JSON
	return buf.Bytes()
}

// appendFloat writes f as encoding/json does; NaN and ±Inf, which JSON
// cannot hold, become 0.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		// 1e-07 → 1e-7, as encoding/json writes it.
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// <, >, & and U+2028/U+2029 are escaped as encoding/json does so the output
// is safe to embed anywhere.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
