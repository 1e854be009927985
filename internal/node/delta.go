package node

import (
	"unicode/utf8"

	"github.com/centrifugal/fdelta"
	"github.com/centrifugal/protocol"
)

// DeltaTypeFossil is the only delta type: Fossil deltas
// (github.com/centrifugal/fdelta), negotiated by a subscribe request with
// delta "fossil" in a channel whose allowed_delta_types has it.
const DeltaTypeFossil = "fossil"

// Encoding kinds of one publication.
const (
	// encPlain is the publication as published.
	encPlain = iota
	// encDeltaFull is the whole publication for a subscriber with delta
	// compression: JSON clients get its data as a JSON string.
	encDeltaFull
	// encDelta is a Fossil delta against the previous publication of the
	// channel (or the whole data when the delta would be larger), for a
	// subscriber with delta compression that has that previous one.
	encDelta
	numEncKinds
)

// pubEncoding encodes one publication push lazily, at most once per protocol
// and kind, so that a fan-out shares the bytes across subscribers.
type pubEncoding struct {
	channel string
	pub     *Publication
	// prev is the channel's previous publication, the delta base; delta
	// tells whether pub may be sent as a delta.
	prev  *Publication
	delta bool

	data      [2][numEncKinds][]byte
	patch     []byte
	isPatch   bool
	patchDone bool
}

func protoIndex(p protocol.Type) int {
	if p == protocol.TypeProtobuf {
		return 1
	}
	return 0
}

// get returns the encoded push for a client of protocol p.
func (e *pubEncoding) get(p protocol.Type, kind int) ([]byte, error) {
	if p == protocol.TypeProtobuf && kind == encDeltaFull {
		kind = encPlain // binary data needs no wrapping
	}
	pi := protoIndex(p)
	if b := e.data[pi][kind]; b != nil {
		return b, nil
	}
	pp := e.pub.toProto()
	switch kind {
	case encDeltaFull:
		pp.Data = appendJSONString(nil, e.pub.Data)
	case encDelta:
		if !e.patchDone {
			e.patchDone = true
			e.patch = fdelta.Create(e.prev.Data, e.pub.Data)
			e.isPatch = len(e.patch) < len(e.pub.Data)
			if !e.isPatch {
				e.patch = e.pub.Data
			}
		}
		pp.Data = e.patch
		pp.Delta = e.isPatch
		if p == protocol.TypeJSON {
			// A delta of UTF-8 text may cut a character in two, which a
			// JSON text frame cannot carry: send the whole data then.
			if e.isPatch && !utf8.Valid(e.patch) {
				pp.Data, pp.Delta = e.pub.Data, false
			}
			pp.Data = appendJSONString(nil, pp.Data)
		}
	}
	b, err := protocol.GetReplyEncoder(p).Encode(&protocol.Reply{Push: &protocol.Push{Channel: e.channel, Pub: pp}})
	if err != nil {
		return nil, err
	}
	e.data[pi][kind] = b
	return b, nil
}

// pubForSub returns the wire form of pub for one subscription: for JSON
// clients with delta compression the data is a JSON string (the form
// centrifuge SDKs expect on such subscriptions); never a delta.
func pubForSub(p protocol.Type, sub *clientSub, pub *Publication) *protocol.Publication {
	pp := pub.toProto()
	if sub.flags&subDelta != 0 && p == protocol.TypeJSON {
		pp.Data = appendJSONString(nil, pub.Data)
	}
	return pp
}

// appendJSONString appends data (UTF-8 text: what JSON clients publish) as a
// JSON string literal.
func appendJSONString(dst, data []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(data); {
		b := data[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			case b == '\t':
				dst = append(dst, '\\', 't')
			case b < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		} else {
			dst = append(dst, data[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
