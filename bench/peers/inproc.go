// SPDX-License-Identifier: MIT
//
// inproc.go: examples/demo.c's in-process workload in Go, the way a Go
// programmer would run it: goroutines on GOMAXPROCS = CPUs, blocking file
// calls (the runtime hands the P to another thread while one blocks),
// time.Sleep for the backend call (a runtime timer, no thread blocked).
//
// The same requests as the demo: open-loop Poisson arrivals at --load of
// the CPUs (or --rate), 80 % latency-critical; each request is compute ->
// pread 4 KiB + fsync of a real file -> sleep -> compute, with the demo's
// burst and sleep lengths; a quarter of the 16-per-CPU serving goroutines
// take latency-critical requests, the rest batch ones, each class from its
// own queue (a channel).  The generator is one locked OS thread issuing at
// the due times; latency counts from the due time.  The compute loop is
// calibrated at start-up against the thread's CPU clock, as in the C
// programs, so a burst costs the same CPU time in every language.
//
// Prints the demo's line: RESULT go throughput= util= lc_p50_us= ...
// Standard library only.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// threadCPUNs, calibrate and burn: cpuburn.go.

type req struct {
	due  int64 // ns since start
	done int64 // atomic; 0: not yet
	cls  int
}

var start = time.Now()

func now() int64 { return int64(time.Since(start)) }

func rngNext(s *uint64) uint64 {
	*s ^= *s << 13
	*s ^= *s >> 7
	*s ^= *s << 17
	return *s
}

func rngUnit(s *uint64) float64 { return float64(rngNext(s)>>11) / 9007199254740992.0 }

func pct(v []int64, p float64) int64 {
	if len(v) == 0 {
		return 0
	}
	return v[int(float64(len(v)-1)*p)]
}

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func main() {
	load := flag.Float64("load", 0.93, "offered CPU work as a fraction of all CPUs")
	rate := flag.Float64("rate", 0, "requests per second (default: from -load)")
	duration := flag.Float64("duration", 5, "measured seconds")
	warmup := flag.Float64("warmup", 0.3, "unmeasured seconds first")
	mix := flag.Float64("mix", 0.8, "fraction of latency-critical requests")
	lcBurst := flag.Int64("lc-burst", 250, "each of the 2 bursts of a latency-critical request, us")
	batchBurst := flag.Int64("batch-burst", 4000, "each of the 2 bursts of a batch request, us")
	lcSleep := flag.Int64("lc-sleep", 2000, "backend call of a latency-critical request, us")
	batchSleep := flag.Int64("batch-sleep", 10000, "backend call of a batch request, us")
	workers := flag.Int("workers", 0, "serving goroutines (16 per CPU)")
	name := flag.String("name", "go", "config name on the RESULT line")
	latOut := flag.String("lat-out", "", "append \"<name> <lc|batch> <us>\" per measured request")
	flag.Parse()

	ncpu := runtime.NumCPU()
	runtime.GOMAXPROCS(ncpu)
	if *workers == 0 {
		*workers = 16 * ncpu
	}
	burst := [2]int64{*lcBurst, *batchBurst}
	sleep := [2]time.Duration{time.Duration(*lcSleep) * time.Microsecond,
		time.Duration(*batchSleep) * time.Microsecond}
	meanCPU := 2 * (*mix*float64(*lcBurst) + (1-*mix)*float64(*batchBurst))
	if *rate == 0 {
		*rate = *load * float64(ncpu) * 1e6 / meanCPU
	}

	dir, err := os.MkdirTemp("", "umcg-peer-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "inproc:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0600)
	if err == nil {
		block := make([]byte, 1<<20)
		for i := range block {
			block[i] = 0xa5
		}
		_, err = f.Write(block)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "inproc: data file:", err)
		os.Exit(1)
	}
	calibrate()

	t0 := now() + 20*int64(time.Millisecond)
	tWarm := t0 + int64(*warmup*1e9)
	tEnd := tWarm + int64(*duration*1e9)
	capacity := int(*rate*(*duration+*warmup)*1.5) + 1000
	reqs := make([]req, capacity)
	var queues [2]chan *req
	for c := range queues {
		queues[c] = make(chan *req, capacity)
	}
	var workNs int64
	var wg sync.WaitGroup
	nrLC := *workers / 4
	if nrLC < 1 {
		nrLC = 1
	}
	for i := 0; i < *workers; i++ {
		c := 1
		if i < nrLC {
			c = 0
		}
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			buf := make([]byte, 4096)
			for q := range queues[c] {
				b := burst[q.cls]
				t := now()
				burn(b)
				if t >= tWarm && t < tEnd {
					atomic.AddInt64(&workNs, b*1000)
				}
				off := (q.due >> 10) % 256 * 4096
				if _, err := f.ReadAt(buf, off); err != nil {
					panic(err)
				}
				if err := f.Sync(); err != nil {
					panic(err)
				}
				time.Sleep(sleep[q.cls])
				t = now()
				burn(b)
				if t >= tWarm && t < tEnd {
					atomic.AddInt64(&workNs, b*1000)
				}
				atomic.StoreInt64(&q.done, now())
			}
		}(c)
	}

	// The generator: one OS thread, as the demo's plain generator thread.
	var issued int64
	var genCPUWarm, genCPUEnd, cpuWarm, cpuEnd int64
	genDone := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		seed := uint64(0x9e3779b97f4a7c15)
		due := t0
		warmSeen := false
		for {
			due += int64(-math.Log(1-rngUnit(&seed)) / *rate * 1e9)
			if due >= tEnd || int(issued) >= capacity {
				break
			}
			if d := due - now(); d > 0 {
				ts := syscall.NsecToTimespec(d)
				for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
				}
			}
			if !warmSeen && now() >= tWarm {
				warmSeen = true
				genCPUWarm = threadCPUNs()
				cpuWarm = cpuNs()
			}
			q := &reqs[issued]
			q.due = due
			if rngUnit(&seed) >= *mix {
				q.cls = 1
			}
			atomic.AddInt64(&issued, 1)
			queues[q.cls] <- q
		}
		if !warmSeen {
			genCPUWarm, cpuWarm = threadCPUNs(), cpuNs()
		}
		time.Sleep(time.Duration(tEnd - now()))
		genCPUEnd = threadCPUNs()
		cpuEnd = cpuNs()
		close(genDone)
	}()
	<-genDone
	// Drain: what was issued gets up to a second to finish.
	cut := tEnd + int64(time.Second)
	n := int(atomic.LoadInt64(&issued))
	for i := 0; i < n; {
		if atomic.LoadInt64(&reqs[i].done) != 0 {
			i++
			continue
		}
		if now() >= cut {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cutAt := now()

	var lat [2][]int64
	doneIn, unfinished := 0, 0
	for i := 0; i < n; i++ {
		q := &reqs[i]
		d := atomic.LoadInt64(&q.done)
		if d >= tWarm && d < tEnd {
			doneIn++
		}
		if q.due < tWarm {
			continue
		}
		if d == 0 {
			unfinished++
			d = cutAt
		}
		lat[q.cls] = append(lat[q.cls], (d-q.due)/1000)
	}
	for c := range queues {
		close(queues[c])
	}
	win := float64(tEnd-tWarm) / 1e9
	util := float64(cpuEnd-cpuWarm-(genCPUEnd-genCPUWarm)) / 1e9 / win / float64(ncpu)
	names := [2]string{"lc", "batch"}
	var out *os.File
	if *latOut != "" {
		out, _ = os.OpenFile(*latOut, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
	}
	for c := range lat {
		sort.Slice(lat[c], func(i, j int) bool { return lat[c][i] < lat[c][j] })
		for _, v := range lat[c] {
			if out != nil {
				fmt.Fprintf(out, "%s %s %d\n", *name, names[c], v)
			}
		}
	}
	if out != nil {
		out.Close()
	}
	fmt.Fprintf(os.Stderr, "inproc(go): %d CPUs, GOMAXPROCS=%d, %.0f req/s offered, "+
		"%d goroutines, work=%.3f, unfinished=%d\n", ncpu, runtime.GOMAXPROCS(0), *rate,
		*workers, float64(atomic.LoadInt64(&workNs))/1e9/win/float64(ncpu), unfinished)
	fmt.Printf("RESULT %s throughput=%.1f util=%.3f lc_p50_us=%d lc_p99_us=%d "+
		"batch_p50_us=%d batch_p99_us=%d\n", *name, float64(doneIn)/win, util,
		pct(lat[0], 0.5), pct(lat[0], 0.99), pct(lat[1], 0.5), pct(lat[1], 0.99))
	// The serving goroutines may still be busy with cut-off requests.
	os.Exit(0)
}
