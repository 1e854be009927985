package apiproto

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rotorhq/rotor/internal/wiretest"
)

// centrifugoV5 is the schema of Centrifugo v5's api.proto (the messages Rotor
// serves): message, then field=number:type. A change here breaks every client
// generated from Centrifugo's file, so this table changes only with a reason.
const centrifugoV5 = `
BatchRequest: commands=1:[]Command parallel=2:bool
BatchResponse: replies=1:[]Reply
BoolValue: value=1:bool
BroadcastRequest: channels=1:[]string data=2:bytes b64data=3:string skip_history=4:bool tags=5:map<string,string> idempotency_key=6:string delta=7:bool
BroadcastResponse: error=1:Error result=2:BroadcastResult
BroadcastResult: responses=1:[]PublishResponse
ChannelInfo: num_clients=1:uint32
ChannelsRequest: pattern=1:string
ChannelsResponse: error=1:Error result=2:ChannelsResult
ChannelsResult: channels=1:map<string,ChannelInfo>
ClientInfo: user=1:string client=2:string conn_info=3:bytes chan_info=4:bytes
Command: id=1:uint32 method=2:Command.MethodType params=3:bytes publish=4:PublishRequest broadcast=5:BroadcastRequest subscribe=6:SubscribeRequest unsubscribe=7:UnsubscribeRequest disconnect=8:DisconnectRequest presence=9:PresenceRequest presence_stats=10:PresenceStatsRequest history=11:HistoryRequest history_remove=12:HistoryRemoveRequest info=13:InfoRequest rpc=14:RPCRequest refresh=15:RefreshRequest channels=16:ChannelsRequest
Disconnect: code=1:uint32 reason=2:string
DisconnectRequest: user=1:string disconnect=2:Disconnect client=3:string whitelist=4:[]string session=5:string
DisconnectResponse: error=1:Error result=2:DisconnectResult
DisconnectResult:
Error: code=1:uint32 message=2:string
HistoryRemoveRequest: channel=1:string
HistoryRemoveResponse: error=1:Error result=2:HistoryRemoveResult
HistoryRemoveResult:
HistoryRequest: channel=1:string limit=2:int32 since=3:StreamPosition reverse=4:bool
HistoryResponse: error=1:Error result=2:HistoryResult
HistoryResult: publications=1:[]Publication epoch=2:string offset=3:uint64
InfoRequest:
InfoResponse: error=1:Error result=2:InfoResult
InfoResult: nodes=1:[]NodeResult
Int32Value: value=1:int32
Metrics: interval=1:double items=2:map<string,double>
NodeResult: uid=1:string name=2:string version=3:string num_clients=4:uint32 num_users=5:uint32 num_channels=6:uint32 uptime=7:uint32 metrics=8:Metrics process=9:Process num_subs=10:uint32
PresenceRequest: channel=1:string
PresenceResponse: error=1:Error result=2:PresenceResult
PresenceResult: presence=1:map<string,ClientInfo>
PresenceStatsRequest: channel=1:string
PresenceStatsResponse: error=1:Error result=2:PresenceStatsResult
PresenceStatsResult: num_clients=1:uint32 num_users=2:uint32
Process: cpu=1:double rss=2:int64
Publication: data=2:bytes info=3:ClientInfo offset=4:uint64 tags=5:map<string,string>
PublishRequest: channel=1:string data=2:bytes b64data=3:string skip_history=4:bool tags=5:map<string,string> idempotency_key=6:string delta=7:bool
PublishResponse: error=1:Error result=2:PublishResult
PublishResult: offset=1:uint64 epoch=2:string
RPCRequest: method=1:string params=2:bytes
RPCResponse: error=1:Error result=2:RPCResult
RPCResult: data=1:bytes
RefreshRequest: user=1:string client=2:string expired=3:bool expire_at=4:int64 info=5:bytes session=6:string
RefreshResponse: error=1:Error result=2:RefreshResult
RefreshResult:
Reply: id=1:uint32 error=2:Error result=3:bytes publish=4:PublishResult broadcast=5:BroadcastResult subscribe=6:SubscribeResult unsubscribe=7:UnsubscribeResult disconnect=8:DisconnectResult presence=9:PresenceResult presence_stats=10:PresenceStatsResult history=11:HistoryResult history_remove=12:HistoryRemoveResult info=13:InfoResult rpc=14:RPCResult refresh=15:RefreshResult channels=16:ChannelsResult
StreamPosition: offset=1:uint64 epoch=2:string
SubscribeOptionOverride: presence=1:BoolValue join_leave=2:BoolValue force_recovery=3:BoolValue force_positioning=4:BoolValue force_push_join_leave=5:BoolValue
SubscribeRequest: channel=1:string user=2:string expire_at=3:int64 info=4:bytes b64info=5:string client=6:string data=7:bytes b64data=8:string recover_since=9:StreamPosition override=10:SubscribeOptionOverride session=11:string
SubscribeResponse: error=1:Error result=2:SubscribeResult
SubscribeResult:
UnsubscribeRequest: channel=1:string user=2:string client=3:string session=4:string
UnsubscribeResponse: error=1:Error result=2:UnsubscribeResult
UnsubscribeResult:
enum Command.MethodType: PUBLISH=0 BROADCAST=1 UNSUBSCRIBE=2 DISCONNECT=3 PRESENCE=4 PRESENCE_STATS=5 HISTORY=6 HISTORY_REMOVE=7 CHANNELS=8 INFO=9 RPC=10 SUBSCRIBE=11 REFRESH=12 CONNECTIONS=14 UPDATE_USER_STATUS=15 GET_USER_STATUS=16 DELETE_USER_STATUS=17 BLOCK_USER=18 UNBLOCK_USER=19 REVOKE_TOKEN=20 INVALIDATE_USER_TOKENS=21 DEVICE_REGISTER=22 DEVICE_UPDATE=23 DEVICE_REMOVE=24 DEVICE_LIST=25 DEVICE_TOPIC_LIST=26 DEVICE_TOPIC_UPDATE=27 USER_TOPIC_LIST=28 USER_TOPIC_UPDATE=29 SEND_PUSH_NOTIFICATION=30 UPDATE_PUSH_STATUS=31 CANCEL_PUSH=32
service centrifugal.centrifugo.api.CentrifugoApi: Batch(BatchRequest)BatchResponse Publish(PublishRequest)PublishResponse Broadcast(BroadcastRequest)BroadcastResponse Subscribe(SubscribeRequest)SubscribeResponse Unsubscribe(UnsubscribeRequest)UnsubscribeResponse Disconnect(DisconnectRequest)DisconnectResponse Presence(PresenceRequest)PresenceResponse PresenceStats(PresenceStatsRequest)PresenceStatsResponse History(HistoryRequest)HistoryResponse HistoryRemove(HistoryRemoveRequest)HistoryRemoveResponse Info(InfoRequest)InfoResponse RPC(RPCRequest)RPCResponse Refresh(RefreshRequest)RefreshResponse Channels(ChannelsRequest)ChannelsResponse
`

func TestSchemaMatchesCentrifugoV5(t *testing.T) {
	fd := File_api_proto
	if got := string(fd.Package()); got != "centrifugal.centrifugo.api" {
		t.Fatalf("package %q", got)
	}
	wiretest.CompareSchema(t, fd, centrifugoV5)
}

// Numbers that Centrifugo PRO (or later versions) use must stay reserved so
// that nobody gives them another meaning.
func TestReservedNumbers(t *testing.T) {
	wiretest.CheckReserved(t, File_api_proto, map[string][]protoreflect.FieldNumber{
		"Command":            wiretest.RangeOf(17, 35),
		"Reply":              wiretest.RangeOf(17, 35),
		"PublishRequest":     {8, 9},
		"BroadcastRequest":   {8, 9},
		"SubscribeRequest":   {12, 13},
		"UnsubscribeRequest": {5, 6},
		"DisconnectRequest":  {6, 7},
		"RefreshRequest":     {7, 8},
		"Disconnect":         {3},
		"Publication":        {1},
	})
}
