package websocket

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// readNonblock and writeNonblock are read(2) and write(2) of a
// non-blocking socket made as raw system calls, which the scheduler does
// not see. A call through syscall.Syscall announces itself to the
// scheduler, and the first such call after every processor went idle
// wakes the runtime's monitor thread, which then polls every 20 µs until
// the processors are idle again: with publications a millisecond apart,
// three context switches each (see docs/PERFORMANCE.md). A read or write
// of a non-blocking socket returns at once, so there is nothing for the
// scheduler to act on.
func readNonblock(fd uintptr, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func writeNonblock(fd uintptr, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// directAPI tells whether DirectListener serves API requests itself.
const directAPI = true
