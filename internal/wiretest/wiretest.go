// Package wiretest checks generated protobuf descriptors against a table of
// the messages, fields, numbers, types, enums and service methods they must
// have, so that the wire packages cannot drift from the protocol they match.
package wiretest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// CompareSchema fails t for every line of want (one message, enum or service
// per line, as describeFile renders them) that fd lacks, and for every line
// fd has beyond want.
func CompareSchema(t testing.TB, fd protoreflect.FileDescriptor, want string) {
	t.Helper()
	compareLines(t, describeFile(fd), want)
}

// CheckReserved fails t for every field number of a message (by name) in
// reserved that fd does not reserve.
func CheckReserved(t testing.TB, fd protoreflect.FileDescriptor, reserved map[string][]protoreflect.FieldNumber) {
	t.Helper()
	for name, nums := range reserved {
		md := fd.Messages().ByName(protoreflect.Name(name))
		if md == nil {
			t.Errorf("no message %s", name)
			continue
		}
		for _, n := range nums {
			if !md.ReservedRanges().Has(n) {
				t.Errorf("%s: %d not reserved", name, n)
			}
		}
	}
}

// RangeOf lists the field numbers from..to.
func RangeOf(from, to protoreflect.FieldNumber) []protoreflect.FieldNumber {
	var out []protoreflect.FieldNumber
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

func compareLines(t testing.TB, got []string, want string) {
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
