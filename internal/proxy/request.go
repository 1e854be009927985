package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rotorhq/rotor/internal/node"
)

// fill sets the fields requests share, found by name so that one piece of
// code serves all six request messages: client, transport, protocol and
// encoding (fields 1-4 of each), user, meta (with
// proxy_include_connection_meta) and data (data, or b64data with
// proxy_binary_encoding), where the message has them.
//
// Data that is not JSON cannot be embedded in a JSON-encoded HTTP request;
// fill refuses it with node.ErrorBadRequest, since the client sent it.
func (t *target) fill(req proto.Message, info *node.ProxyClientInfo, data []byte) error {
	m := req.ProtoReflect()
	fields := m.Descriptor().Fields()
	set := func(name protoreflect.Name, v protoreflect.Value) {
		if fd := fields.ByName(name); fd != nil {
			m.Set(fd, v)
		}
	}
	encoding := "json"
	if t.binary {
		encoding = "binary"
	}
	set("client", protoreflect.ValueOfString(info.Client))
	set("transport", protoreflect.ValueOfString(info.Transport))
	set("protocol", protoreflect.ValueOfString(info.Protocol))
	set("encoding", protoreflect.ValueOfString(encoding))
	set("user", protoreflect.ValueOfString(info.User))
	if t.includeMeta && len(info.Meta) > 0 {
		set("meta", protoreflect.ValueOfBytes(info.Meta))
	}
	switch {
	case len(data) == 0:
	case t.binary:
		set("b64data", protoreflect.ValueOfString(base64.StdEncoding.EncodeToString(data)))
	case t.url != "" && !json.Valid(data):
		return fmt.Errorf("proxy: data is not JSON, which %s (%s) needs without binary encoding: %w", t.key, t.endpoint, node.ErrorBadRequest)
	default:
		set("data", protoreflect.ValueOfBytes(data))
	}
	return nil
}

// unbase64 decodes every non-empty b64<name> field of m, and of the messages
// within it, into its <name> bytes twin, so that results are read from the
// bytes fields whatever the encoding.
func unbase64(m protoreflect.Message) error {
	type decoded struct {
		fd   protoreflect.FieldDescriptor
		data []byte
	}
	var (
		sets []decoded
		err  error
	)
	fields := m.Descriptor().Fields()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					err = unbase64(mv.Message())
					return err == nil
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len() && err == nil; i++ {
					err = unbase64(v.List().Get(i).Message())
				}
			}
		case fd.Message() != nil:
			err = unbase64(v.Message())
		case fd.Kind() == protoreflect.StringKind && strings.HasPrefix(string(fd.Name()), "b64"):
			twin := fields.ByName(fd.Name()[len("b64"):])
			if twin == nil || twin.Kind() != protoreflect.BytesKind || twin.IsList() {
				break
			}
			var data []byte
			if data, err = base64.StdEncoding.DecodeString(v.String()); err != nil {
				err = fmt.Errorf("%s: %w", fd.Name(), err)
				break
			}
			sets = append(sets, decoded{twin, data})
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	for _, s := range sets {
		m.Set(s.fd, protoreflect.ValueOfBytes(s.data))
	}
	return nil
}
