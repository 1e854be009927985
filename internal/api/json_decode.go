package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/rotorhq/rotor/apiproto"
)

// The HTTP API speaks JSON with the proto field names, where bytes fields
// (data, info, params) are embedded JSON values rather than base64 strings.
// The generated apiproto structs cannot be decoded that way, so every request
// has a JSON twin here that is decoded with encoding/json and then converted.
// Field names match case-insensitively and unknown fields are ignored, as
// with Centrifugo.

// errUnknownMethod is returned for a method name or number that Rotor does
// not serve.
var errUnknownMethod = errors.New("api: unknown method")

// methodSpec describes one API method: its URL name, its number in the older
// addressing style, and how to decode its JSON request into a Command.
type methodSpec struct {
	name   string
	typ    apiproto.Command_MethodType
	decode func(params []byte, c *apiproto.Command) error
}

// methodSpecs lists every method except batch, which has no number.
var methodSpecs = []methodSpec{
	{"publish", apiproto.Command_PUBLISH, func(p []byte, c *apiproto.Command) error {
		var j jsonPublishRequest
		err := unmarshalParams(p, &j)
		c.Publish = j.proto()
		return err
	}},
	{"broadcast", apiproto.Command_BROADCAST, func(p []byte, c *apiproto.Command) error {
		var j jsonBroadcastRequest
		err := unmarshalParams(p, &j)
		c.Broadcast = j.proto()
		return err
	}},
	{"subscribe", apiproto.Command_SUBSCRIBE, func(p []byte, c *apiproto.Command) error {
		var j jsonSubscribeRequest
		err := unmarshalParams(p, &j)
		c.Subscribe = j.proto()
		return err
	}},
	{"unsubscribe", apiproto.Command_UNSUBSCRIBE, func(p []byte, c *apiproto.Command) error {
		var j jsonUnsubscribeRequest
		err := unmarshalParams(p, &j)
		c.Unsubscribe = j.proto()
		return err
	}},
	{"disconnect", apiproto.Command_DISCONNECT, func(p []byte, c *apiproto.Command) error {
		var j jsonDisconnectRequest
		err := unmarshalParams(p, &j)
		c.Disconnect = j.proto()
		return err
	}},
	{"presence", apiproto.Command_PRESENCE, func(p []byte, c *apiproto.Command) error {
		var j jsonChannelRequest
		err := unmarshalParams(p, &j)
		c.Presence = &apiproto.PresenceRequest{Channel: j.Channel}
		return err
	}},
	{"presence_stats", apiproto.Command_PRESENCE_STATS, func(p []byte, c *apiproto.Command) error {
		var j jsonChannelRequest
		err := unmarshalParams(p, &j)
		c.PresenceStats = &apiproto.PresenceStatsRequest{Channel: j.Channel}
		return err
	}},
	{"history", apiproto.Command_HISTORY, func(p []byte, c *apiproto.Command) error {
		var j jsonHistoryRequest
		err := unmarshalParams(p, &j)
		c.History = j.proto()
		return err
	}},
	{"history_remove", apiproto.Command_HISTORY_REMOVE, func(p []byte, c *apiproto.Command) error {
		var j jsonChannelRequest
		err := unmarshalParams(p, &j)
		c.HistoryRemove = &apiproto.HistoryRemoveRequest{Channel: j.Channel}
		return err
	}},
	{"info", apiproto.Command_INFO, func(_ []byte, c *apiproto.Command) error {
		// Info has no fields; its params are not even looked at.
		c.Info = &apiproto.InfoRequest{}
		return nil
	}},
	{"rpc", apiproto.Command_RPC, func(p []byte, c *apiproto.Command) error {
		var j jsonRPCRequest
		err := unmarshalParams(p, &j)
		c.Rpc = &apiproto.RPCRequest{Method: j.Method, Params: rawBytes(j.Params)}
		return err
	}},
	{"refresh", apiproto.Command_REFRESH, func(p []byte, c *apiproto.Command) error {
		var j jsonRefreshRequest
		err := unmarshalParams(p, &j)
		c.Refresh = j.proto()
		return err
	}},
	{"channels", apiproto.Command_CHANNELS, func(p []byte, c *apiproto.Command) error {
		var j jsonChannelsRequest
		err := unmarshalParams(p, &j)
		c.Channels = &apiproto.ChannelsRequest{Pattern: j.Pattern}
		return err
	}},
}

var (
	methodsByName = map[string]*methodSpec{}
	methodsByType = map[apiproto.Command_MethodType]*methodSpec{}
)

func init() {
	for i := range methodSpecs {
		m := &methodSpecs[i]
		methodsByName[m.name] = m
		methodsByType[m.typ] = m
	}
}

// commandFromParams decodes the JSON params of the method numbered typ into
// a Command holding the typed request. It returns errUnknownMethod for a
// number Rotor does not serve and a decoding error for malformed params.
func commandFromParams(typ apiproto.Command_MethodType, params []byte) (*apiproto.Command, error) {
	m := methodsByType[typ]
	if m == nil {
		return nil, errUnknownMethod
	}
	c := &apiproto.Command{}
	if err := m.decode(params, c); err != nil {
		return nil, err
	}
	return c, nil
}

// unmarshalParams decodes a JSON object into v. An empty (or all blank)
// input counts as {}, and so does [] – what PHP's json_encode makes of an
// empty array, which PHP clients send for "no params".
func unmarshalParams(p []byte, v any) error {
	t := bytes.TrimSpace(p)
	if len(t) == 0 || (len(t) >= 2 && t[0] == '[' && len(bytes.TrimSpace(t[1:len(t)-1])) == 0 && t[len(t)-1] == ']') {
		return nil
	}
	return json.Unmarshal(p, v)
}

// rawBytes turns an embedded JSON value into the bytes the node keeps. The
// value is compacted when it holds layout whitespace, so that it never
// breaks newline-delimited framing (the JSON client protocol, the older API
// format) when it is sent on.
func rawBytes(r json.RawMessage) []byte {
	if len(r) == 0 {
		return nil
	}
	if bytes.IndexAny(r, " \t\r\n") < 0 {
		return r
	}
	var buf bytes.Buffer
	buf.Grow(len(r))
	if err := json.Compact(&buf, r); err != nil {
		return r
	}
	return buf.Bytes()
}

// jsonUint64 is a uint64 given as a JSON number or, as protobuf's JSON
// mapping writes 64-bit integers, as a decimal string.
type jsonUint64 uint64

func (u *jsonUint64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseUint(string(unquoteNumber(b)), 10, 64)
	if err != nil {
		return errors.New("api: invalid unsigned integer")
	}
	*u = jsonUint64(v)
	return nil
}

// jsonInt64 is an int64 given as a JSON number or a decimal string.
type jsonInt64 int64

func (i *jsonInt64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(string(unquoteNumber(b)), 10, 64)
	if err != nil {
		return errors.New("api: invalid integer")
	}
	*i = jsonInt64(v)
	return nil
}

func unquoteNumber(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	if string(b) == "null" {
		return []byte("0")
	}
	return b
}

// jsonBoolValue is a BoolValue: {"value": true}. A bare true/false is taken
// too.
type jsonBoolValue struct {
	set   bool
	value bool
}

func (v *jsonBoolValue) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "null":
		return nil
	case "true":
		v.set, v.value = true, true
		return nil
	case "false":
		v.set, v.value = true, false
		return nil
	}
	var o struct {
		Value bool `json:"value"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	v.set, v.value = true, o.Value
	return nil
}

func (v jsonBoolValue) proto() *apiproto.BoolValue {
	if !v.set {
		return nil
	}
	return &apiproto.BoolValue{Value: v.value}
}

// jsonMethod is a method of the older addressing style: its name in any
// case ("publish", "PRESENCE_STATS") or its MethodType number. An unknown
// name decodes to -1, which no method has.
type jsonMethod apiproto.Command_MethodType

func (m *jsonMethod) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if v, ok := apiproto.Command_MethodType_value[strings.ToUpper(s)]; ok {
			*m = jsonMethod(v)
		} else {
			*m = -1
		}
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*m = jsonMethod(n)
	return nil
}

type jsonStreamPosition struct {
	Offset jsonUint64 `json:"offset"`
	Epoch  string     `json:"epoch"`
}

func (p *jsonStreamPosition) proto() *apiproto.StreamPosition {
	if p == nil {
		return nil
	}
	return &apiproto.StreamPosition{Offset: uint64(p.Offset), Epoch: p.Epoch}
}

type jsonPublishRequest struct {
	Channel        string            `json:"channel"`
	Data           json.RawMessage   `json:"data"`
	B64Data        string            `json:"b64data"`
	SkipHistory    bool              `json:"skip_history"`
	Tags           map[string]string `json:"tags"`
	IdempotencyKey string            `json:"idempotency_key"`
	Delta          bool              `json:"delta"`
}

func (j *jsonPublishRequest) proto() *apiproto.PublishRequest {
	return &apiproto.PublishRequest{
		Channel:        j.Channel,
		Data:           rawBytes(j.Data),
		B64Data:        j.B64Data,
		SkipHistory:    j.SkipHistory,
		Tags:           j.Tags,
		IdempotencyKey: j.IdempotencyKey,
		Delta:          j.Delta,
	}
}

type jsonBroadcastRequest struct {
	Channels       []string          `json:"channels"`
	Data           json.RawMessage   `json:"data"`
	B64Data        string            `json:"b64data"`
	SkipHistory    bool              `json:"skip_history"`
	Tags           map[string]string `json:"tags"`
	IdempotencyKey string            `json:"idempotency_key"`
	Delta          bool              `json:"delta"`
}

func (j *jsonBroadcastRequest) proto() *apiproto.BroadcastRequest {
	return &apiproto.BroadcastRequest{
		Channels:       j.Channels,
		Data:           rawBytes(j.Data),
		B64Data:        j.B64Data,
		SkipHistory:    j.SkipHistory,
		Tags:           j.Tags,
		IdempotencyKey: j.IdempotencyKey,
		Delta:          j.Delta,
	}
}

type jsonOverride struct {
	Presence           jsonBoolValue `json:"presence"`
	JoinLeave          jsonBoolValue `json:"join_leave"`
	ForceRecovery      jsonBoolValue `json:"force_recovery"`
	ForcePositioning   jsonBoolValue `json:"force_positioning"`
	ForcePushJoinLeave jsonBoolValue `json:"force_push_join_leave"`
}

func (o *jsonOverride) proto() *apiproto.SubscribeOptionOverride {
	if o == nil {
		return nil
	}
	return &apiproto.SubscribeOptionOverride{
		Presence:           o.Presence.proto(),
		JoinLeave:          o.JoinLeave.proto(),
		ForceRecovery:      o.ForceRecovery.proto(),
		ForcePositioning:   o.ForcePositioning.proto(),
		ForcePushJoinLeave: o.ForcePushJoinLeave.proto(),
	}
}

type jsonSubscribeRequest struct {
	Channel      string              `json:"channel"`
	User         string              `json:"user"`
	ExpireAt     jsonInt64           `json:"expire_at"`
	Info         json.RawMessage     `json:"info"`
	B64Info      string              `json:"b64info"`
	Client       string              `json:"client"`
	Data         json.RawMessage     `json:"data"`
	B64Data      string              `json:"b64data"`
	RecoverSince *jsonStreamPosition `json:"recover_since"`
	Override     *jsonOverride       `json:"override"`
	Session      string              `json:"session"`
}

func (j *jsonSubscribeRequest) proto() *apiproto.SubscribeRequest {
	return &apiproto.SubscribeRequest{
		Channel:      j.Channel,
		User:         j.User,
		ExpireAt:     int64(j.ExpireAt),
		Info:         rawBytes(j.Info),
		B64Info:      j.B64Info,
		Client:       j.Client,
		Data:         rawBytes(j.Data),
		B64Data:      j.B64Data,
		RecoverSince: j.RecoverSince.proto(),
		Override:     j.Override.proto(),
		Session:      j.Session,
	}
}

type jsonUnsubscribeRequest struct {
	Channel string `json:"channel"`
	User    string `json:"user"`
	Client  string `json:"client"`
	Session string `json:"session"`
}

func (j *jsonUnsubscribeRequest) proto() *apiproto.UnsubscribeRequest {
	return &apiproto.UnsubscribeRequest{Channel: j.Channel, User: j.User, Client: j.Client, Session: j.Session}
}

type jsonDisconnect struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

type jsonDisconnectRequest struct {
	User       string          `json:"user"`
	Disconnect *jsonDisconnect `json:"disconnect"`
	Client     string          `json:"client"`
	Whitelist  []string        `json:"whitelist"`
	Session    string          `json:"session"`
}

func (j *jsonDisconnectRequest) proto() *apiproto.DisconnectRequest {
	r := &apiproto.DisconnectRequest{User: j.User, Client: j.Client, Whitelist: j.Whitelist, Session: j.Session}
	if j.Disconnect != nil {
		r.Disconnect = &apiproto.Disconnect{Code: j.Disconnect.Code, Reason: j.Disconnect.Reason}
	}
	return r
}

// jsonChannelRequest is presence, presence_stats and history_remove.
type jsonChannelRequest struct {
	Channel string `json:"channel"`
}

type jsonHistoryRequest struct {
	Channel string              `json:"channel"`
	Limit   int32               `json:"limit"`
	Since   *jsonStreamPosition `json:"since"`
	Reverse bool                `json:"reverse"`
}

func (j *jsonHistoryRequest) proto() *apiproto.HistoryRequest {
	return &apiproto.HistoryRequest{Channel: j.Channel, Limit: j.Limit, Since: j.Since.proto(), Reverse: j.Reverse}
}

type jsonRPCRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type jsonRefreshRequest struct {
	User     string          `json:"user"`
	Client   string          `json:"client"`
	Expired  bool            `json:"expired"`
	ExpireAt jsonInt64       `json:"expire_at"`
	Info     json.RawMessage `json:"info"`
	Session  string          `json:"session"`
}

func (j *jsonRefreshRequest) proto() *apiproto.RefreshRequest {
	return &apiproto.RefreshRequest{
		User:     j.User,
		Client:   j.Client,
		Expired:  j.Expired,
		ExpireAt: int64(j.ExpireAt),
		Info:     rawBytes(j.Info),
		Session:  j.Session,
	}
}

type jsonChannelsRequest struct {
	Pattern string `json:"pattern"`
}

// jsonCommand is one command of a batch: a typed request, or method and
// params in the older style.
type jsonCommand struct {
	ID            uint32                  `json:"id"`
	Method        jsonMethod              `json:"method"`
	Params        json.RawMessage         `json:"params"`
	Publish       *jsonPublishRequest     `json:"publish"`
	Broadcast     *jsonBroadcastRequest   `json:"broadcast"`
	Subscribe     *jsonSubscribeRequest   `json:"subscribe"`
	Unsubscribe   *jsonUnsubscribeRequest `json:"unsubscribe"`
	Disconnect    *jsonDisconnectRequest  `json:"disconnect"`
	Presence      *jsonChannelRequest     `json:"presence"`
	PresenceStats *jsonChannelRequest     `json:"presence_stats"`
	History       *jsonHistoryRequest     `json:"history"`
	HistoryRemove *jsonChannelRequest     `json:"history_remove"`
	Info          *struct{}               `json:"info"`
	RPC           *jsonRPCRequest         `json:"rpc"`
	Refresh       *jsonRefreshRequest     `json:"refresh"`
	Channels      *jsonChannelsRequest    `json:"channels"`
}

func (j *jsonCommand) proto() *apiproto.Command {
	c := &apiproto.Command{Id: j.ID, Method: apiproto.Command_MethodType(j.Method), Params: rawBytes(j.Params)}
	switch {
	case j.Publish != nil:
		c.Publish = j.Publish.proto()
	case j.Broadcast != nil:
		c.Broadcast = j.Broadcast.proto()
	case j.Subscribe != nil:
		c.Subscribe = j.Subscribe.proto()
	case j.Unsubscribe != nil:
		c.Unsubscribe = j.Unsubscribe.proto()
	case j.Disconnect != nil:
		c.Disconnect = j.Disconnect.proto()
	case j.Presence != nil:
		c.Presence = &apiproto.PresenceRequest{Channel: j.Presence.Channel}
	case j.PresenceStats != nil:
		c.PresenceStats = &apiproto.PresenceStatsRequest{Channel: j.PresenceStats.Channel}
	case j.History != nil:
		c.History = j.History.proto()
	case j.HistoryRemove != nil:
		c.HistoryRemove = &apiproto.HistoryRemoveRequest{Channel: j.HistoryRemove.Channel}
	case j.Info != nil:
		c.Info = &apiproto.InfoRequest{}
	case j.RPC != nil:
		c.Rpc = &apiproto.RPCRequest{Method: j.RPC.Method, Params: rawBytes(j.RPC.Params)}
	case j.Refresh != nil:
		c.Refresh = j.Refresh.proto()
	case j.Channels != nil:
		c.Channels = &apiproto.ChannelsRequest{Pattern: j.Channels.Pattern}
	}
	return c
}

type jsonBatchRequest struct {
	Commands []jsonCommand `json:"commands"`
	Parallel bool          `json:"parallel"`
}

func (j *jsonBatchRequest) proto() *apiproto.BatchRequest {
	r := &apiproto.BatchRequest{Commands: make([]*apiproto.Command, len(j.Commands)), Parallel: j.Parallel}
	for i := range j.Commands {
		r.Commands[i] = j.Commands[i].proto()
	}
	return r
}

// jsonLegacyCommand is one line of the older POST <prefix> format.
type jsonLegacyCommand struct {
	ID     uint32          `json:"id"`
	Method jsonMethod      `json:"method"`
	Params json.RawMessage `json:"params"`
}
