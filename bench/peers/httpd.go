// SPDX-License-Identifier: MIT
//
// httpd.go: examples/http/httpd.c's two routes written the idiomatic Go
// way: net/http, a goroutine per connection, GOMAXPROCS = CPUs.  /lc is a
// short compute, a pread (File.ReadAt) of 4 KiB of a real file and a short
// time.Sleep; /batch a long compute, ReadAt + File.Sync and a longer
// sleep.  Same defaults as the C server; the compute loop is calibrated
// against the thread's CPU clock, as in the C programs.  Listens on
// 127.0.0.1 only.  Standard library only.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// threadCPUNs, calibrate and burn: cpuburn.go.

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free one)")
	portFile := flag.String("port-file", "", "write the port there once listening")
	lcBurst := flag.Int64("lc-burst", 500, "compute of /lc, us")
	lcSleep := flag.Int64("lc-sleep", 2000, "backend call of /lc, us")
	batchBurst := flag.Int64("batch-burst", 8000, "compute of /batch, us")
	batchSleep := flag.Int64("batch-sleep", 10000, "backend call of /batch, us")
	flag.Parse()
	runtime.GOMAXPROCS(runtime.NumCPU())

	dir, err := os.MkdirTemp("", "umcg-peer-httpd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpd.go:", err)
		os.Exit(1)
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0600)
	os.RemoveAll(dir)
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
		fmt.Fprintln(os.Stderr, "httpd.go: data file:", err)
		os.Exit(1)
	}
	calibrate()

	var next uint32
	route := func(name string, burst, sleep int64, sync bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 4096)
			burn(burst)
			off := int64(atomic.AddUint32(&next, 1)%256) * 4096
			n, err := f.ReadAt(buf, off)
			if err == nil && sync {
				err = f.Sync()
			}
			if err != nil {
				n = -1
			}
			time.Sleep(time.Duration(sleep) * time.Microsecond)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "%s ok %d\n", name, n)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/lc", route("lc", *lcBurst, *lcSleep, false))
	mux.HandleFunc("/batch", route("batch", *batchBurst, *batchSleep, true))

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpd.go:", err)
		os.Exit(1)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(fmt.Sprintf("%d\n", p)), 0644); err != nil {
			fmt.Fprintln(os.Stderr, "httpd.go:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("httpd.go: listening on 127.0.0.1:%d (net/http, GOMAXPROCS=%d)\n", p,
		runtime.GOMAXPROCS(0))
	srv := &http.Server{Handler: mux, IdleTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "httpd.go:", err)
		os.Exit(1)
	}
}
