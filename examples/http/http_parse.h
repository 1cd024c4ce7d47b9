/* SPDX-License-Identifier: MIT */
/*
 * http_parse: the request-head parser of examples/http/httpd.c.  No
 * dependencies beyond libc's string functions, no allocation, no state
 * between calls: hand it the bytes received so far and it says whether a
 * whole request head is there, and what it says.  fuzz/http_parse.c
 * feeds it arbitrary bytes.
 *
 * What it accepts (RFC 9112, a strict subset):
 *   request-line = method SP request-target SP "HTTP/1." DIGIT CRLF
 *   header-line  = field-name ":" OWS field-value OWS CRLF
 * ending with an empty line.  A bare LF is taken for CRLF.  It rejects
 * obsolete line folding, a space before the colon, control characters,
 * a Content-Length that is not all digits, overflows, or disagrees with a
 * second one, and a request with both Content-Length and
 * Transfer-Encoding (a request-smuggling vector).
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A head longer than this is refused (431) rather than buffered. */
#define HTTP_MAX_HEAD	8192

enum http_parse_result {
	HTTP_PARSE_DONE = 0,		/* a whole head: *req is filled */
	HTTP_PARSE_AGAIN = 1,		/* valid so far, need more bytes */
	HTTP_PARSE_BAD = -1,		/* malformed: answer 400 and close */
	HTTP_PARSE_TOO_BIG = -2,	/* no head within HTTP_MAX_HEAD bytes */
};

struct http_req {
	const char *method;	/* points into the caller's buffer */
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor;		/* HTTP/1.<minor> */
	bool has_length;
	uint64_t content_length;	/* 0 without Content-Length */
	bool chunked;		/* Transfer-Encoding given (any coding) */
	bool keep_alive;	/* after the version's default and Connection: */
	size_t head_len;	/* bytes of the head, its empty line included */
};

/*
 * Parse the head at the start of @buf (@len bytes).  On HTTP_PARSE_DONE
 * the body (req->content_length bytes) starts at buf + req->head_len.
 */
enum http_parse_result http_parse_request(const char *buf, size_t len,
					  struct http_req *req);

/* True when @req's method is @m (case-sensitive, as the RFC says). */
bool http_method_is(const struct http_req *req, const char *m);

#endif /* HTTP_PARSE_H */
