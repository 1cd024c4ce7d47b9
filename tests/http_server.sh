#!/bin/sh
# Description: examples/http/httpd.c on the toolkit and with --threads:
# both routes answer, 400 on malformed requests and it serves on,
# keep-alive and Connection: close, the connection cap (503), clients
# that vanish mid-request leak no fd and no thread; then loadgen counts
# every request back (<build>/testdata/http_server_check, from
# tests/http/server_check.c).  No timing is asserted.  About 6 s.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
bin=$build/testdata/http_server_check
[ -x "$bin" ] || { echo "no $bin (make first)"; exit 1; }
exec "$bin"
