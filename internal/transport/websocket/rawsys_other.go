//go:build !linux

package websocket

import "errors"

// directAPI tells whether DirectListener serves API requests itself: not
// without Linux's non-blocking raw reads.
const directAPI = false

var errNoRawIO = errors.New("websocket: raw socket calls need Linux")

func readNonblock(fd uintptr, b []byte) (int, error) { return -1, errNoRawIO }
