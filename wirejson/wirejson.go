// Package wirejson encodes and decodes the wire messages of apiproto and
// proxyproto in the JSON form Centrifugo's HTTP server API and HTTP proxy use:
// one object per message keyed by the proto field names, fields holding their
// zero value left out, and bytes fields (data, info, meta, params, ...)
// embedded as JSON values rather than base64 strings. Rotor's HTTP proxy
// client and the SDK packages rotorproxy and rotorapi share it.
package wirejson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The JSON wire form shared by Centrifugo's HTTP proxy and HTTP server API:
// one object per message keyed by the proto field names, fields holding their
// zero value left out, integers as JSON numbers, and bytes fields (data, info,
// meta, params, ...) embedded as JSON values instead of base64 strings. The
// encoder and decoder walk the message descriptors, so every message of
// proxy.proto and api.proto is covered by the same code.

// ErrNotJSON is the error of a bytes field whose content is not JSON and
// that has no b64 twin to carry it instead.
var ErrNotJSON = errors.New("holds bytes that are not JSON, and the message has no b64 field for them")

// Marshal encodes m in the JSON wire form. A bytes field whose content is
// not valid JSON is written to its string twin named "b64"+name (data →
// b64data, info → b64info) as standard base64, when the message has one that
// is not set; otherwise encoding fails.
func Marshal(m proto.Message) ([]byte, error) {
	return appendWireMessage(make([]byte, 0, 256), m.ProtoReflect())
}

func appendWireMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	b = append(b, '{')
	fields := m.Descriptor().Fields()
	n := 0
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		var err error
		if fd.Kind() == protoreflect.BytesKind && !fd.IsList() && !fd.IsMap() {
			b, err = appendWireBytesField(b, m, fd)
		} else {
			b = appendWireString(b, string(fd.Name()))
			b = append(b, ':')
			switch v := m.Get(fd); {
			case fd.IsList():
				b, err = appendWireList(b, fd, v.List())
			case fd.IsMap():
				b, err = appendWireMap(b, fd.MapValue(), v.Map())
			default:
				b, err = appendWireValue(b, fd, v)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fd.Name(), err)
		}
	}
	return append(b, '}'), nil
}

// appendWireBytesField writes a singular bytes field as embedded JSON, or as
// base64 in its b64 twin when the bytes are not JSON.
func appendWireBytesField(b []byte, m protoreflect.Message, fd protoreflect.FieldDescriptor) ([]byte, error) {
	raw := m.Get(fd).Bytes()
	if json.Valid(raw) {
		b = appendWireString(b, string(fd.Name()))
		b = append(b, ':')
		return append(b, bytes.TrimSpace(raw)...), nil
	}
	twin := m.Descriptor().Fields().ByName(protoreflect.Name("b64" + string(fd.Name())))
	if twin == nil || twin.Kind() != protoreflect.StringKind || twin.IsList() || m.Has(twin) {
		return nil, ErrNotJSON
	}
	b = appendWireString(b, string(twin.Name()))
	b = append(b, ':', '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"'), nil
}

func appendWireList(b []byte, fd protoreflect.FieldDescriptor, l protoreflect.List) ([]byte, error) {
	b = append(b, '[')
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendWireValue(b, fd, l.Get(i)); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendWireMap(b []byte, vd protoreflect.FieldDescriptor, mp protoreflect.Map) ([]byte, error) {
	keys := make([]string, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k.String())
		return true
	})
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendWireString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendWireValue(b, vd, mp.Get(protoreflect.ValueOfString(k).MapKey())); err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

func appendWireValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendWireMessage(b, v.Message())
	case protoreflect.BytesKind:
		raw := v.Bytes()
		if len(raw) == 0 {
			return append(b, "null"...), nil
		}
		if !json.Valid(raw) {
			return nil, ErrNotJSON
		}
		return append(b, bytes.TrimSpace(raw)...), nil
	case protoreflect.StringKind:
		return appendWireString(b, v.String()), nil
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.EnumKind:
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v cannot be written as JSON", f)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("field kind %s is not supported", fd.Kind())
}

func appendWireString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a Go string always encodes
	return append(b, q...)
}

// Unmarshal decodes the JSON wire form into m, which should be empty.
// Unknown fields and null values are skipped, so messages of later protocol
// versions decode; field names may also be in lowerCamelCase. Bytes fields
// keep the JSON text of their value.
func Unmarshal(data []byte, m proto.Message) error {
	return decodeWireMessage(data, m.ProtoReflect())
}

func decodeWireMessage(data []byte, m protoreflect.Message) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%s: %w", m.Descriptor().Name(), err)
	}
	fields := m.Descriptor().Fields()
	for name, raw := range obj {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			fd = fields.ByJSONName(name)
		}
		if fd == nil || isWireNull(raw) {
			continue
		}
		if err := decodeWireField(m, fd, raw); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func decodeWireField(m protoreflect.Message, fd protoreflect.FieldDescriptor, raw json.RawMessage) error {
	switch {
	case fd.IsList():
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		l := m.Mutable(fd).List()
		for _, item := range items {
			v, err := decodeWireElem(fd, item, l.NewElement)
			if err != nil {
				return err
			}
			l.Append(v)
		}
		return nil
	case fd.IsMap():
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		if fd.MapKey().Kind() != protoreflect.StringKind {
			return fmt.Errorf("map key kind %s is not supported", fd.MapKey().Kind())
		}
		mp := m.Mutable(fd).Map()
		for k, item := range items {
			v, err := decodeWireElem(fd.MapValue(), item, mp.NewValue)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			mp.Set(protoreflect.ValueOfString(k).MapKey(), v)
		}
		return nil
	case fd.Message() != nil:
		return decodeWireMessage(raw, m.Mutable(fd).Message())
	}
	v, err := decodeWireScalar(fd, raw)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

// decodeWireElem decodes a list element or a map value; newMessage makes an
// empty one for message kinds.
func decodeWireElem(fd protoreflect.FieldDescriptor, raw json.RawMessage, newMessage func() protoreflect.Value) (protoreflect.Value, error) {
	if fd.Message() == nil {
		return decodeWireScalar(fd, raw)
	}
	v := newMessage()
	if isWireNull(raw) {
		return v, nil
	}
	return v, decodeWireMessage(raw, v.Message())
}

// decodeWireScalar decodes a scalar. Integers may be JSON numbers (also with
// an exponent, as long as they are whole) or quoted, as protojson writes
// 64-bit ones; enums may also be given by name.
func decodeWireScalar(fd protoreflect.FieldDescriptor, raw json.RawMessage) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(bytes.Clone(raw)), nil
	case protoreflect.StringKind:
		var s string
		err := json.Unmarshal(raw, &s)
		return protoreflect.ValueOfString(s), err
	case protoreflect.BoolKind:
		var v bool
		err := json.Unmarshal(raw, &v)
		return protoreflect.ValueOfBool(v), err
	case protoreflect.FloatKind:
		f, err := strconv.ParseFloat(unquoteWire(raw), 32)
		return protoreflect.ValueOfFloat32(float32(f)), err
	case protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(unquoteWire(raw), 64)
		return protoreflect.ValueOfFloat64(f), err
	case protoreflect.EnumKind:
		var name string
		if json.Unmarshal(raw, &name) == nil {
			if ev := fd.Enum().Values().ByName(protoreflect.Name(name)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), nil
			}
		}
		n, err := parseWireInt(unquoteWire(raw), 32)
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := parseWireInt(unquoteWire(raw), 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := parseWireInt(unquoteWire(raw), 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseWireUint(unquoteWire(raw), 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseWireUint(unquoteWire(raw), 64)
		return protoreflect.ValueOfUint64(n), err
	}
	return protoreflect.Value{}, fmt.Errorf("field kind %s is not supported", fd.Kind())
}

func parseWireInt(s string, bits int) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, bits); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	limit := math.Ldexp(1, bits-1)
	if err != nil || f != math.Trunc(f) || f < -limit || f >= limit {
		return 0, fmt.Errorf("%s is not an int%d", s, bits)
	}
	return int64(f), nil
}

func parseWireUint(s string, bits int) (uint64, error) {
	if n, err := strconv.ParseUint(s, 10, bits); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f >= math.Ldexp(1, bits) {
		return 0, fmt.Errorf("%s is not a uint%d", s, bits)
	}
	return uint64(f), nil
}

// unquoteWire strips the quotes of a quoted number.
func unquoteWire(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func isWireNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
