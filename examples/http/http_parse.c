// SPDX-License-Identifier: MIT
/*
 * http_parse: see http_parse.h.  Line by line over the bytes received so
 * far; every complete line is checked as it is found, so garbage is
 * refused on its first line rather than after HTTP_MAX_HEAD bytes.
 */
#include <string.h>
#include "http_parse.h"

/* RFC 9110 tchar: the characters of a token (method, field name). */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value's characters: visible, obs-text, space and tab. */
static bool is_value_char(unsigned char c)
{
	return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f);
}

/* Never valid anywhere in a head, even in a line not complete yet. */
static bool is_forbidden(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/*
 * The line starting at @pos: its length without CR LF (or LF), and in
 * *@next where the following line starts.  -1 if no LF is there yet.
 */
static long line_at(const char *b, size_t len, size_t pos, size_t *next)
{
	const char *lf = memchr(b + pos, '\n', len - pos);
	size_t end;

	if (!lf)
		return -1;
	end = (size_t)(lf - b);
	*next = end + 1;
	if (end > pos && b[end - 1] == '\r')
		end--;
	return (long)(end - pos);
}

static bool name_is(const char *name, size_t n, const char *want)
{
	if (strlen(want) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != want[i])
			return false;
	}
	return true;
}

static bool parse_request_line(const char *l, size_t n, struct http_req *req)
{
	size_t i = 0, t;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i >= n || l[i] != ' ')
		return false;
	req->method = l;
	req->method_len = i;
	t = ++i;
	while (i < n && (unsigned char)l[i] > 0x20 && l[i] != 0x7f)
		i++;
	if (i == t || i >= n || l[i] != ' ')
		return false;
	req->target = l + t;
	req->target_len = i - t;
	i++;
	if (n - i != 8 || memcmp(l + i, "HTTP/1.", 7) || l[i + 7] < '0' || l[i + 7] > '9')
		return false;
	req->minor = l[i + 7] - '0';
	return true;
}

static bool parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 15)	/* 15 digits: far beyond any body we read */
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

/* Connection: a comma-separated list of tokens. */
static void parse_connection(const char *v, size_t n, bool *close, bool *keep)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (name_is(v + s, e - s, "close"))
			*close = true;
		else if (name_is(v + s, e - s, "keep-alive"))
			*keep = true;
	}
}

struct head_state {
	bool close, keep, host, te;
};

static bool parse_header(const char *l, size_t n, struct http_req *req,
			 struct head_state *st)
{
	size_t i = 0, vs, ve;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i >= n || l[i] != ':')
		return false;	/* also a space before the colon, or a fold */
	vs = i + 1;
	for (size_t k = vs; k < n; k++)
		if (!is_value_char((unsigned char)l[k]))
			return false;
	while (vs < n && (l[vs] == ' ' || l[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
		ve--;
	if (name_is(l, i, "content-length")) {
		uint64_t v;

		if (!parse_length(l + vs, ve - vs, &v))
			return false;
		if (req->has_length && v != req->content_length)
			return false;
		req->has_length = true;
		req->content_length = v;
	} else if (name_is(l, i, "transfer-encoding")) {
		st->te = true;
	} else if (name_is(l, i, "connection")) {
		parse_connection(l + vs, ve - vs, &st->close, &st->keep);
	} else if (name_is(l, i, "host")) {
		if (st->host)
			return false;	/* RFC 9112 3.2: exactly one */
		st->host = true;
	}
	return true;
}

/* The incomplete tail: refuse what no later byte could make valid. */
static enum http_parse_result check_tail(const char *b, size_t len, size_t pos,
					 bool first_line)
{
	for (size_t i = pos; i < len; i++)
		if (is_forbidden((unsigned char)b[i]))
			return HTTP_PARSE_BAD;
	if (first_line)
		for (size_t i = pos; i < len && b[i] != ' '; i++)
			if (!is_tchar((unsigned char)b[i]))
				return HTTP_PARSE_BAD;
	return len >= HTTP_MAX_HEAD ? HTTP_PARSE_TOO_BIG : HTTP_PARSE_AGAIN;
}

enum http_parse_result http_parse_request(const char *buf, size_t len,
					  struct http_req *req)
{
	struct head_state st = { 0 };
	size_t pos = 0, next;
	long n;

	memset(req, 0, sizeof(*req));
	/* RFC 9112 2.2: ignore empty lines before the request line. */
	while (pos < len && pos < 4 && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	n = line_at(buf, len, pos, &next);
	if (n < 0)
		return check_tail(buf, len, pos, true);
	if (next > HTTP_MAX_HEAD)
		return HTTP_PARSE_TOO_BIG;
	if (!parse_request_line(buf + pos, (size_t)n, req))
		return HTTP_PARSE_BAD;
	for (;;) {
		pos = next;
		n = line_at(buf, len, pos, &next);
		if (n < 0)
			return check_tail(buf, len, pos, false);
		if (next > HTTP_MAX_HEAD)
			return HTTP_PARSE_TOO_BIG;
		if (n == 0)
			break;
		if (!parse_header(buf + pos, (size_t)n, req, &st))
			return HTTP_PARSE_BAD;
	}
	if (st.te && req->has_length)
		return HTTP_PARSE_BAD;	/* RFC 9112 6.1: smuggling; refuse */
	if (req->minor >= 1 && !st.host)
		return HTTP_PARSE_BAD;	/* RFC 9112 3.2 */
	req->chunked = st.te;
	req->keep_alive = req->minor >= 1 ? !st.close : st.keep && !st.close;
	req->head_len = next;
	return HTTP_PARSE_DONE;
}

bool http_method_is(const struct http_req *req, const char *m)
{
	size_t n = strlen(m);

	return req->method_len == n && !memcmp(req->method, m, n);
}
