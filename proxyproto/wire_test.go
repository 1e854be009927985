package proxyproto

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rotorhq/rotor/internal/wiretest"
)

// centrifugoV5 is the schema of Centrifugo v5's proxy.proto (the unary calls
// Rotor makes): message, then field=number:type. A change here breaks every
// backend written for Centrifugo, so this table changes only with a reason.
const centrifugoV5 = `
BoolValue: value=1:bool
ChannelsCapability: channels=1:[]string allow=2:[]string match=3:string
ConnectRequest: client=1:string transport=2:string protocol=3:string encoding=4:string data=10:bytes b64data=11:string name=12:string version=13:string channels=14:[]string
ConnectResponse: result=1:ConnectResult error=2:Error disconnect=3:Disconnect
ConnectResult: user=1:string expire_at=2:int64 info=3:bytes b64info=4:string data=5:bytes b64data=6:string channels=7:[]string subs=8:map<string,SubscribeOptions> meta=9:bytes caps=10:[]ChannelsCapability
Disconnect: code=1:uint32 reason=2:string
Error: code=1:uint32 message=2:string temporary=3:bool
Int32Value: value=1:int32
PublishRequest: client=1:string transport=2:string protocol=3:string encoding=4:string user=10:string channel=11:string data=12:bytes b64data=13:string meta=14:bytes
PublishResponse: result=1:PublishResult error=2:Error disconnect=3:Disconnect
PublishResult: data=1:bytes b64data=2:string skip_history=3:bool
RPCRequest: client=1:string transport=2:string protocol=3:string encoding=4:string user=10:string method=11:string data=12:bytes b64data=13:string meta=14:bytes
RPCResponse: result=1:RPCResult error=2:Error disconnect=3:Disconnect
RPCResult: data=1:bytes b64data=2:string
RefreshRequest: client=1:string transport=2:string protocol=3:string encoding=4:string user=10:string meta=11:bytes
RefreshResponse: result=1:RefreshResult error=2:Error disconnect=3:Disconnect
RefreshResult: expired=1:bool expire_at=2:int64 info=3:bytes b64info=4:string meta=5:bytes caps=6:[]ChannelsCapability
SubRefreshRequest: client=1:string transport=2:string protocol=3:string encoding=4:string user=10:string channel=11:string meta=12:bytes
SubRefreshResponse: result=1:SubRefreshResult error=2:Error disconnect=3:Disconnect
SubRefreshResult: expired=1:bool expire_at=2:int64 info=3:bytes b64info=4:string
SubscribeOptionOverride: presence=1:BoolValue join_leave=2:BoolValue force_recovery=3:BoolValue force_positioning=4:BoolValue force_push_join_leave=5:BoolValue
SubscribeOptions: expire_at=1:int64 info=2:bytes b64info=3:string data=4:bytes b64data=5:string override=6:SubscribeOptionOverride
SubscribeRequest: client=1:string transport=2:string protocol=3:string encoding=4:string user=10:string channel=11:string token=12:string meta=13:bytes data=14:bytes b64data=15:string
SubscribeResponse: result=1:SubscribeResult error=2:Error disconnect=3:Disconnect
SubscribeResult: expire_at=1:int64 info=2:bytes b64info=3:string data=4:bytes b64data=5:string override=6:SubscribeOptionOverride allow=7:[]string
service centrifugal.centrifugo.proxy.CentrifugoProxy: Connect(ConnectRequest)ConnectResponse Refresh(RefreshRequest)RefreshResponse Subscribe(SubscribeRequest)SubscribeResponse Publish(PublishRequest)PublishResponse RPC(RPCRequest)RPCResponse SubRefresh(SubRefreshRequest)SubRefreshResponse
`

func TestSchemaMatchesCentrifugoV5(t *testing.T) {
	fd := File_proxy_proto
	if got := string(fd.Package()); got != "centrifugal.centrifugo.proxy" {
		t.Fatalf("package %q", got)
	}
	wiretest.CompareSchema(t, fd, centrifugoV5)
}

// Numbers that later Centrifugo versions use must stay reserved so that
// nobody gives them another meaning.
func TestReservedNumbers(t *testing.T) {
	wiretest.CheckReserved(t, File_proxy_proto, map[string][]protoreflect.FieldNumber{
		"Disconnect":       {3},
		"SubscribeOptions": {7, 8},
		"SubscribeResult":  {8},
		"PublishResult":    {4, 5, 6, 7, 8},
	})
}
