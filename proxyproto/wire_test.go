package proxyproto

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
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
	compareSchema(t, describeFile(fd), centrifugoV5)
}

// Numbers that later Centrifugo versions use must stay reserved so that
// nobody gives them another meaning.
func TestReservedNumbers(t *testing.T) {
	msgs := File_proxy_proto.Messages()
	for name, nums := range map[string][]protoreflect.FieldNumber{
		"Disconnect":       {3},
		"SubscribeOptions": {7, 8},
		"SubscribeResult":  {8},
		"PublishResult":    {4, 5, 6, 7, 8},
	} {
		md := msgs.ByName(protoreflect.Name(name))
		for _, n := range nums {
			if !md.ReservedRanges().Has(n) {
				t.Errorf("%s: %d not reserved", name, n)
			}
		}
	}
}

func compareSchema(t *testing.T, got []string, want string) {
	t.Helper()
	var wantLines []string
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		wantLines = append(wantLines, strings.TrimSpace(l))
	}
	slices.Sort(wantLines)
	for _, l := range got {
		if !slices.Contains(wantLines, l) {
			t.Errorf("schema has    %s", l)
		}
	}
	for _, l := range wantLines {
		if !slices.Contains(got, l) {
			t.Errorf("schema lacks  %s", l)
		}
	}
}

// describeFile renders messages, enums and services in the table's format.
func describeFile(fd protoreflect.FileDescriptor) []string {
	var out []string
	var walk func(protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			md := ms.Get(i)
			if md.IsMapEntry() {
				continue
			}
			line := []string{relName(fd, md.FullName()) + ":"}
			for j := range md.Fields().Len() {
				f := md.Fields().Get(j)
				line = append(line, fmt.Sprintf("%s=%d:%s", f.Name(), f.Number(), fieldType(fd, f)))
			}
			out = append(out, strings.Join(line, " "))
			for j := range md.Enums().Len() {
				out = append(out, describeEnum(fd, md.Enums().Get(j)))
			}
			walk(md.Messages())
		}
	}
	walk(fd.Messages())
	for i := range fd.Enums().Len() {
		out = append(out, describeEnum(fd, fd.Enums().Get(i)))
	}
	for i := range fd.Services().Len() {
		sd := fd.Services().Get(i)
		line := []string{"service " + string(sd.FullName()) + ":"}
		for j := range sd.Methods().Len() {
			m := sd.Methods().Get(j)
			line = append(line, fmt.Sprintf("%s(%s)%s", m.Name(), relName(fd, m.Input().FullName()), relName(fd, m.Output().FullName())))
		}
		out = append(out, strings.Join(line, " "))
	}
	slices.Sort(out)
	return out
}

func describeEnum(fd protoreflect.FileDescriptor, ed protoreflect.EnumDescriptor) string {
	line := []string{"enum " + relName(fd, ed.FullName()) + ":"}
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		line = append(line, fmt.Sprintf("%s=%d", v.Name(), v.Number()))
	}
	return strings.Join(line, " ")
}

func relName(fd protoreflect.FileDescriptor, n protoreflect.FullName) string {
	return strings.TrimPrefix(string(n), string(fd.Package())+".")
}

func fieldType(fd protoreflect.FileDescriptor, f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return "map<" + fieldType(fd, f.MapKey()) + "," + fieldType(fd, f.MapValue()) + ">"
	}
	var t string
	switch f.Kind() {
	case protoreflect.MessageKind:
		t = relName(fd, f.Message().FullName())
	case protoreflect.EnumKind:
		t = relName(fd, f.Enum().FullName())
	default:
		t = f.Kind().String()
	}
	if f.IsList() {
		return "[]" + t
	}
	return t
}
