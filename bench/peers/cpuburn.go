// SPDX-License-Identifier: MIT
//
// The compute bursts of the Go peers (inproc.go, httpd.go), built into each:
// a loop calibrated by this thread's CPU time, as examples/http/cpuburn.h
// does for the C and C++ programs, so a burst costs the same CPU in every
// language.

package main

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID

func threadCPUNs() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime,
		uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

var itersPerUs float64
var sink uint64

func burnIters(n uint64) {
	x := n | 1
	for i := uint64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	atomic.AddUint64(&sink, x&1)
}

// calibrate doubles the loop until one run takes 50 ms of this thread's CPU.
func calibrate() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := uint64(1 << 20)
	burnIters(n)
	for {
		t := threadCPUNs()
		burnIters(n)
		t = threadCPUNs() - t
		if t > 50000000 {
			itersPerUs = float64(n) / (float64(t) / 1000)
			return
		}
		n *= 2
	}
}

func burn(us int64) { burnIters(uint64(itersPerUs * float64(us))) }
