package node

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/centrifugal/protocol"
)

// Limits of a publication tags filter sent with a subscribe request (field
// tf of SubscribeRequest, as the centrifuge SDKs build it): bigger filters
// are refused with 107 so that one subscriber cannot make every broadcast
// of a channel expensive.
const (
	maxFilterDepth = 16
	maxFilterNodes = 128
)

var errBadFilter = errors.New("bad tags filter")

// validateFilter checks that f is a filter filterMatch understands.
func validateFilter(f *protocol.FilterNode) error {
	count := 0
	var walk func(n *protocol.FilterNode, depth int) error
	walk = func(n *protocol.FilterNode, depth int) error {
		count++
		if n == nil || depth > maxFilterDepth || count > maxFilterNodes {
			return errBadFilter
		}
		switch n.Op {
		case "":
			if n.Key == "" || len(n.Nodes) > 0 {
				return errBadFilter
			}
			switch n.Cmp {
			case "eq", "neq", "ex", "nex", "sw", "ew", "ct", "in", "nin":
			case "lt", "lte", "gt", "gte":
				if _, err := strconv.ParseFloat(n.Val, 64); err != nil {
					return errBadFilter
				}
			default:
				return errBadFilter
			}
			return nil
		case "and", "or":
		case "not":
			if len(n.Nodes) != 1 {
				return errBadFilter
			}
		default:
			return errBadFilter
		}
		for _, c := range n.Nodes {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(f, 1)
}

// filterMatch reports whether a publication with tags passes filter f
// (validated by validateFilter). Comparisons of a missing tag are false,
// except neq, nin and nex; lt/lte/gt/gte compare as numbers and are false
// when the tag is not one.
func filterMatch(f *protocol.FilterNode, tags map[string]string) bool {
	switch f.Op {
	case "and":
		for _, n := range f.Nodes {
			if !filterMatch(n, tags) {
				return false
			}
		}
		return true
	case "or":
		for _, n := range f.Nodes {
			if filterMatch(n, tags) {
				return true
			}
		}
		return false
	case "not":
		return len(f.Nodes) == 1 && !filterMatch(f.Nodes[0], tags)
	case "":
	default:
		return false
	}
	v, ok := tags[f.Key]
	switch f.Cmp {
	case "eq":
		return ok && v == f.Val
	case "neq":
		return !ok || v != f.Val
	case "ex":
		return ok
	case "nex":
		return !ok
	case "in":
		return ok && slices.Contains(f.Vals, v)
	case "nin":
		return !ok || !slices.Contains(f.Vals, v)
	case "sw":
		return ok && strings.HasPrefix(v, f.Val)
	case "ew":
		return ok && strings.HasSuffix(v, f.Val)
	case "ct":
		return ok && strings.Contains(v, f.Val)
	case "lt", "lte", "gt", "gte":
		if !ok {
			return false
		}
		a, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		b, err := strconv.ParseFloat(f.Val, 64)
		if err != nil {
			return false
		}
		switch f.Cmp {
		case "lt":
			return a < b
		case "lte":
			return a <= b
		case "gt":
			return a > b
		default:
			return a >= b
		}
	}
	return false
}
