package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The JSON form of proxy messages that HTTP backends speak: an object per
// message with the proto field names, fields at their zero value left out,
// 64-bit integers as numbers, and bytes fields (data, info, meta) embedded
// as JSON values rather than base64 strings as protojson would have them;
// binary payloads travel in the b64* string twins instead. Both directions
// walk the message descriptors, so every message of proxy.proto is covered
// by the same code.

// errNotJSON is the error of a bytes field that does not hold JSON.
var errNotJSON = errors.New("is not valid JSON (binary payloads need proxy_binary_encoding)")

// marshalJSON encodes m in the JSON form of the proxy protocol.
func marshalJSON(m proto.Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 256), m.ProtoReflect())
}

func appendMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	b = append(b, '{')
	fields := m.Descriptor().Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		var err error
		switch v := m.Get(fd); {
		case fd.IsList():
			b, err = appendList(b, fd, v.List())
		case fd.IsMap():
			b, err = appendMap(b, fd.MapValue(), v.Map())
		default:
			b, err = appendValue(b, fd, v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fd.Name(), err)
		}
	}
	return append(b, '}'), nil
}

func appendList(b []byte, fd protoreflect.FieldDescriptor, l protoreflect.List) ([]byte, error) {
	b = append(b, '[')
	for i := 0; i < l.Len(); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, fd, l.Get(i)); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendMap(b []byte, vd protoreflect.FieldDescriptor, mp protoreflect.Map) ([]byte, error) {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k.String())
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, vd, mp.Get(k)); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	case protoreflect.BytesKind:
		raw := v.Bytes()
		if !json.Valid(raw) {
			return nil, errNotJSON
		}
		return append(b, raw...), nil
	case protoreflect.StringKind:
		return appendString(b, v.String()), nil
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.EnumKind:
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v has no JSON form", f)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("unsupported kind %s", fd.Kind())
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// unmarshalJSON decodes the JSON form of the proxy protocol into m. Unknown
// fields and nulls are skipped, so answers written for later protocol
// versions decode; field names may also be given in lowerCamelCase.
func unmarshalJSON(data []byte, m proto.Message) error {
	return decodeMessage(data, m.ProtoReflect())
}

func decodeMessage(data []byte, m protoreflect.Message) error {
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
		if fd == nil || isNull(raw) {
			continue
		}
		if err := decodeField(m, fd, raw); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func decodeField(m protoreflect.Message, fd protoreflect.FieldDescriptor, raw json.RawMessage) error {
	switch {
	case fd.IsList():
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		l := m.Mutable(fd).List()
		for _, item := range items {
			v, err := decodeValue(fd, item, l.NewElement)
			if err != nil {
				return err
			}
			l.Append(v)
		}
	case fd.IsMap():
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		mp := m.Mutable(fd).Map()
		for k, item := range items {
			key, _ := json.Marshal(k) // a string always encodes
			mk, err := decodeScalar(fd.MapKey(), key)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			v, err := decodeValue(fd.MapValue(), item, mp.NewValue)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			mp.Set(mk.MapKey(), v)
		}
	case fd.Message() != nil:
		return decodeMessage(raw, m.Mutable(fd).Message())
	default:
		v, err := decodeScalar(fd, raw)
		if err != nil {
			return err
		}
		m.Set(fd, v)
	}
	return nil
}

// decodeValue decodes one list element or map value; newMessage makes an
// empty one when it is a message.
func decodeValue(fd protoreflect.FieldDescriptor, raw json.RawMessage, newMessage func() protoreflect.Value) (protoreflect.Value, error) {
	if fd.Message() == nil {
		return decodeScalar(fd, raw)
	}
	v := newMessage()
	if isNull(raw) {
		return v, nil
	}
	return v, decodeMessage(raw, v.Message())
}

// decodeScalar decodes a value of a scalar kind. Bytes fields keep the JSON
// text itself. Integers may also be quoted (as protojson writes 64-bit ones)
// or written with an exponent.
func decodeScalar(fd protoreflect.FieldDescriptor, raw json.RawMessage) (protoreflect.Value, error) {
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
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(unquote(raw), 64)
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), err
		}
		return protoreflect.ValueOfFloat64(f), err
	}
	bits, signed := intKind(fd.Kind())
	if bits == 0 {
		return protoreflect.Value{}, fmt.Errorf("unsupported kind %s", fd.Kind())
	}
	s := unquote(raw)
	if signed {
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			n, err = integral[int64](s, bits, true)
		}
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s is not an int%d", raw, bits)
		}
		switch fd.Kind() {
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(int32(n)), nil
		}
		return protoreflect.ValueOfInt64(n), nil
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		n, err = integral[uint64](s, bits, false)
	}
	if err != nil {
		return protoreflect.Value{}, fmt.Errorf("%s is not a uint%d", raw, bits)
	}
	if bits == 32 {
		return protoreflect.ValueOfUint32(uint32(n)), nil
	}
	return protoreflect.ValueOfUint64(n), nil
}

// intKind returns the size and signedness of an integer kind, 0 for others.
func intKind(k protoreflect.Kind) (bits int, signed bool) {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		return 32, true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return 64, true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return 32, false
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return 64, false
	}
	return 0, false
}

// integral parses a number written as a float (1.7e9) that holds an integer
// within bits.
func integral[T int64 | uint64](s string, bits int, signed bool) (T, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) {
		return 0, errors.New("not an integer")
	}
	lo, hi := 0.0, math.Ldexp(1, bits)
	if signed {
		lo, hi = -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)
	}
	if f < lo || f >= hi {
		return 0, errors.New("out of range")
	}
	return T(f), nil
}

func unquote(raw json.RawMessage) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		return string(raw[1 : len(raw)-1])
	}
	return string(raw)
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
