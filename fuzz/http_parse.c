// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for examples/http/http_parse.c, the request-head parser
 * of examples/http/httpd.c.  The parser's source is included, so this file
 * builds alone:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address -Iexamples/http fuzz/http_parse.c
 *
 * (make fuzz-http builds it as build/fuzz/http_parse).  Besides crashes it
 * checks what httpd relies on: a head it accepts lies inside the buffer and
 * is no longer than HTTP_MAX_HEAD; its fields point into the buffer; every
 * shorter prefix of an accepted head asks for more bytes (never 400), so a
 * request arriving a byte at a time parses the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../examples/http/http_parse.c"

static int within(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly @size bytes: ASan sees any read past the end. */
	char *buf = malloc(size ? size : 1);
	struct http_req req;
	enum http_parse_result r;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	r = http_parse_request(buf, size, &req);
	if (r == HTTP_PARSE_DONE) {
		if (req.head_len == 0 || req.head_len > size || req.head_len > HTTP_MAX_HEAD)
			abort();
		if (!within(req.method, req.method_len, buf, req.head_len) ||
		    !within(req.target, req.target_len, buf, req.head_len) ||
		    req.method_len == 0 || req.target_len == 0)
			abort();
		if (req.minor < 0 || req.minor > 9 || (req.chunked && req.has_length))
			abort();
		if (http_parse_request(buf, req.head_len - 1, &req) != HTTP_PARSE_AGAIN)
			abort();
	} else if (r != HTTP_PARSE_AGAIN && r != HTTP_PARSE_BAD && r != HTTP_PARSE_TOO_BIG) {
		abort();
	}
	if (r == HTTP_PARSE_TOO_BIG && size < HTTP_MAX_HEAD)
		abort();
	free(buf);
	return 0;
}
