// SPDX-License-Identifier: MIT
/*
 * tests/http_server.sh runs this (<dir>/testdata/http_server_check): not
 * a binary of tests/ itself, since the kernel-check guest, which runs those, has
 * no TCP/IP.
 *
 * examples/http/httpd.c, on the toolkit and with --threads: both routes
 * answer, a malformed request gets 400 and the server serves on,
 * keep-alive (also pipelined, also after a POST body) and Connection:
 * close behave, the connection cap answers 503, and clients that vanish
 * mid-request leave no fd and no thread behind.  Then bench/peers/loadgen
 * against it: every request it sends is counted back.  Both programs are
 * found beside this one's build dir (<dir>/examples/httpd,
 * <dir>/peers/loadgen).  No timing is asserted.  Loopback only.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../t_helpers.h"

#define MAX_CONNS	4

extern char **environ;

static char bindir[PATH_MAX];
static const char *mode;	/* "umcg" or "threads" */
static pid_t server;
static int port;

/* ---- A tiny client ------------------------------------------------------ */

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/*
 * Read one response into @buf: head, then Content-Length bytes of body.
 * Returns its status, 0 on EOF before any byte, -1 on error.  Bytes past
 * the response stay in @buf for the next call (*@have).
 */
static int read_response(int fd, char *buf, size_t cap, size_t *have, char *body, size_t bcap)
{
	for (;;) {
		char *end = memmem(buf, *have, "\r\n\r\n", 4);

		if (end) {
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			size_t head = (size_t)(end - buf) + 4, len, total;
			int status;

			if (!cl || cl > end)
				return -1;
			len = strtoul(cl + 17, NULL, 10);
			total = head + len;
			if (total > cap)
				return -1;
			if (*have >= total) {
				status = atoi(buf + 9);
				if (body) {
					size_t n = len < bcap - 1 ? len : bcap - 1;

					memcpy(body, buf + head, n);
					body[n] = 0;
				}
				memmove(buf, buf + total, *have - total);
				*have -= total;
				return status;
			}
		}
		if (*have == cap)
			return -1;
		ssize_t k = recv(fd, buf + *have, cap - *have, 0);

		if (k == 0 && *have == 0)
			return 0;
		if (k <= 0)
			return -1;
		*have += (size_t)k;
	}
}

/* One request on a new connection; the status (and @body). */
static int request(const char *req, char *body, size_t bcap)
{
	char buf[4096];
	size_t have = 0;
	int fd = dial(), st;

	if (fd < 0)
		return -1;
	st = send_str(fd, req) ? -1 : read_response(fd, buf, sizeof(buf), &have, body, bcap);
	close(fd);
	return st;
}

/* True when the server closed the connection (EOF). */
static int peer_closed(int fd)
{
	char c;

	return recv(fd, &c, 1, 0) == 0;
}

/* ---- The server process ---------------------------------------------------- */

static int start_server(const char *m)
{
	char exe[PATH_MAX + 32], pf[] = "/tmp/umcg-test-httpd-XXXXXX";
	char *argv[16];
	int n = 0, fd = mkstemp(pf);
	FILE *f;

	if (fd < 0)
		return -1;
	close(fd);
	unlink(pf);
	snprintf(exe, sizeof(exe), "%s/examples/httpd", bindir);
	argv[n++] = exe;
	if (!strcmp(m, "threads"))
		argv[n++] = "--threads";
	argv[n++] = "--port-file";
	argv[n++] = pf;
	argv[n++] = "--max-conns=4";	/* MAX_CONNS */
	argv[n++] = "--idle-timeout=3000";
	argv[n++] = "--lc-burst=100";
	argv[n++] = "--lc-sleep=500";
	argv[n++] = "--batch-burst=500";
	argv[n++] = "--batch-sleep=1000";
	argv[n] = NULL;
	if (posix_spawn(&server, exe, NULL, NULL, argv, environ))
		return -1;
	/* Up to a minute: a sanitizer build on a loaded machine starts slowly. */
	for (int i = 0; i < 1200; i++) {
		t_msleep(50);
		f = fopen(pf, "r");
		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;

			fclose(f);
			if (ok) {
				unlink(pf);
				mode = m;
				return 0;
			}
		}
		if (waitpid(server, NULL, WNOHANG) == server)
			return -1;
	}
	kill(server, SIGKILL);	/* never left behind */
	waitpid(server, NULL, 0);
	unlink(pf);
	return -1;
}

static int stop_server(void)
{
	int st;

	kill(server, SIGTERM);
	if (waitpid(server, &st, 0) != server)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int count_fds(void)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)server);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_threads(void)
{
	char path[64], line[256];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)server);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* "live=<n>" from /stats: the connections open, this one included. */
static int live_conns(void)
{
	char body[256];

	if (request("GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", body,
		    sizeof(body)) != 200)
		return -1;
	return atoi(body + 5);
}

/* ---- Cases -------------------------------------------------------------- */

static int test_routes(void)
{
	char body[128];

	T_CHECK(request("GET /lc HTTP/1.1\r\nHost: t\r\n\r\n", body, sizeof(body)) == 200,
		"%s: GET /lc", mode);
	T_CHECK(!strcmp(body, "lc ok 4096\n"), "%s: /lc said '%s'", mode, body);
	T_CHECK(request("GET /batch HTTP/1.1\r\nHost: t\r\n\r\n", body, sizeof(body)) == 200,
		"%s: GET /batch", mode);
	T_CHECK(!strcmp(body, "batch ok 4096\n"), "%s: /batch said '%s'", mode, body);
	T_CHECK(request("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", body, sizeof(body)) == 404,
		"%s: unknown path", mode);
	T_CHECK(request("DELETE /lc HTTP/1.1\r\nHost: t\r\n\r\n", body, sizeof(body)) == 405,
		"%s: unknown method", mode);
	return 0;
}

static int test_malformed_gets_400(void)
{
	static const char *const bad[] = {
		"GARBAGE\r\n\r\n",
		"GET /lc HTTP/1.1\r\n\r\n",				/* no Host */
		"GET /lc HTTP/2.0\r\nHost: t\r\n\r\n",
		"GET /lc HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
		"GET /lc HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
		"GET /lc HTTP/1.1\r\nHost : t\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* a TLS hello */
	};
	char buf[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t have = 0;
		int fd = dial();

		T_CHECK(fd >= 0, "%s: connect", mode);
		T_CHECK(!send_str(fd, bad[i]), "send");
		T_CHECK(read_response(fd, buf, sizeof(buf), &have, NULL, 0) == 400,
			"%s: request %zu not answered 400", mode, i);
		T_CHECK(peer_closed(fd), "%s: still open after 400", mode);
		close(fd);
		/* And the server serves on. */
		T_CHECK(request("GET /lc HTTP/1.1\r\nHost: t\r\n\r\n", NULL, 0) == 200,
			"%s: no answer after bad request %zu", mode, i);
	}
	return 0;
}

static int test_keep_alive(void)
{
	char buf[4096], body[128];
	size_t have = 0;
	int fd = dial();

	T_CHECK(fd >= 0, "connect");
	/* Three requests in turn on one connection. */
	for (int i = 0; i < 3; i++) {
		T_CHECK(!send_str(fd, "GET /lc HTTP/1.1\r\nHost: t\r\n\r\n"), "send");
		T_CHECK(read_response(fd, buf, sizeof(buf), &have, body, sizeof(body)) == 200,
			"%s: keep-alive request %d", mode, i);
	}
	/* Pipelined, a POST body between: each gets its own answer. */
	T_CHECK(!send_str(fd, "POST /lc HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"
			      "hello=world"
			      "GET /batch HTTP/1.1\r\nHost: t\r\n\r\n"
			      "HEAD /lc HTTP/1.1\r\nHost: t\r\n\r\n"), "send");
	T_CHECK(read_response(fd, buf, sizeof(buf), &have, body, sizeof(body)) == 200 &&
		!strcmp(body, "lc ok 4096\n"), "%s: POST", mode);
	T_CHECK(read_response(fd, buf, sizeof(buf), &have, body, sizeof(body)) == 200 &&
		!strcmp(body, "batch ok 4096\n"), "%s: pipelined GET", mode);
	/* HEAD: the Content-Length of the GET, no body. */
	T_CHECK(have == 0 || memmem(buf, have, "\r\n\r\n", 4), "short head");
	for (int i = 0; i < 100 && !memmem(buf, have, "\r\n\r\n", 4); i++) {
		ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);

		T_CHECK(k > 0, "%s: HEAD answer", mode);
		have += (size_t)k;
	}
	T_CHECK(!strncmp(buf, "HTTP/1.1 200", 12), "%s: HEAD status", mode);
	T_CHECK(have == (size_t)((char *)memmem(buf, have, "\r\n\r\n", 4) - buf) + 4,
		"%s: HEAD answer has a body", mode);
	close(fd);
	return 0;
}

static int test_connection_close(void)
{
	char buf[4096];
	size_t have = 0;
	int fd = dial();

	T_CHECK(fd >= 0, "connect");
	T_CHECK(!send_str(fd, "GET /lc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"), "send");
	T_CHECK(read_response(fd, buf, sizeof(buf), &have, NULL, 0) == 200, "%s: status", mode);
	T_CHECK(peer_closed(fd), "%s: open after Connection: close", mode);
	close(fd);
	/* HTTP/1.0 closes by default and keeps alive when asked. */
	fd = dial();
	have = 0;
	T_CHECK(fd >= 0 && !send_str(fd, "GET /lc HTTP/1.0\r\n\r\n"), "send");
	T_CHECK(read_response(fd, buf, sizeof(buf), &have, NULL, 0) == 200, "%s: 1.0", mode);
	T_CHECK(peer_closed(fd), "%s: HTTP/1.0 kept open", mode);
	close(fd);
	fd = dial();
	have = 0;
	T_CHECK(fd >= 0 && !send_str(fd, "GET /lc HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
				     "GET /lc HTTP/1.0\r\n\r\n"), "send");
	T_CHECK(read_response(fd, buf, sizeof(buf), &have, NULL, 0) == 200, "%s: 1.0 ka", mode);
	T_CHECK(read_response(fd, buf, sizeof(buf), &have, NULL, 0) == 200,
		"%s: 1.0 keep-alive closed early", mode);
	T_CHECK(peer_closed(fd), "%s: HTTP/1.0 kept open", mode);
	close(fd);
	return 0;
}

static int test_connection_cap(void)
{
	char buf[512];
	int fd[MAX_CONNS], extra, st;
	size_t have = 0;

	for (int i = 0; i < 100 && live_conns() != 1; i++)
		t_msleep(50);
	for (int i = 0; i < MAX_CONNS; i++) {
		have = 0;
		fd[i] = dial();
		T_CHECK(fd[i] >= 0 && !send_str(fd[i], "GET /lc HTTP/1.1\r\nHost: t\r\n\r\n"),
			"connect");
		T_CHECK(read_response(fd[i], buf, sizeof(buf), &have, NULL, 0) == 200,
			"%s: connection %d of the cap refused", mode, i);
	}
	extra = dial();
	have = 0;
	T_CHECK(extra >= 0, "connect");
	T_CHECK(read_response(extra, buf, sizeof(buf), &have, NULL, 0) == 503,
		"%s: connection past the cap not refused", mode);
	close(extra);
	close(fd[0]);
	/* A freed slot takes the next one (once the server saw the close). */
	st = 0;
	for (int i = 0; i < 100 && st != 200; i++) {
		st = request("GET /lc HTTP/1.1\r\nHost: t\r\n\r\n", NULL, 0);
		if (st != 200)
			t_msleep(50);
	}
	T_CHECK(st == 200, "%s: freed slot not reused (%d)", mode, st);
	for (int i = 1; i < MAX_CONNS; i++)
		close(fd[i]);
	return 0;
}

static int test_vanished_clients_leak_nothing(void)
{
	static const char *const partial[] = {
		"GET /lc HTTP/1.1\r\nHost",				/* mid-head */
		"POST /lc HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab", /* mid-body */
		"GET /batch HTTP/1.1\r\nHost: t\r\n\r\n",		/* mid-work */
	};
	int fds0, thr0, fds = -1, thr = -1;

	for (int i = 0; i < 100 && live_conns() != 1; i++)
		t_msleep(50);
	/* The baseline: the fewest seen (a /stats connection may linger). */
	fds0 = thr0 = INT_MAX;
	for (int i = 0; i < 5; i++) {
		int f = count_fds(), t = count_threads();

		t_msleep(50);
		fds0 = f < fds0 ? f : fds0;
		thr0 = t < thr0 ? t : thr0;
	}
	T_CHECK(fds0 > 0 && thr0 > 0, "/proc/%d", (int)server);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			int fd = dial();

			T_CHECK(fd >= 0 && !send_str(fd, partial[i]), "send");
			t_msleep(20);
			if (round)	/* a reset rather than a close */
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
		}
	/* Each connection's worker notices, closes its fd and returns. */
	for (int i = 0; i < 200; i++) {
		t_msleep(50);
		if (live_conns() == 1 && (fds = count_fds()) <= fds0 &&
		    (thr = count_threads()) <= thr0)
			break;
	}
	T_CHECK(fds <= fds0, "%s: %d fds, %d before", mode, fds, fds0);
	T_CHECK(thr <= thr0, "%s: %d threads, %d before", mode, thr, thr0);
	T_CHECK(request("GET /lc HTTP/1.1\r\nHost: t\r\n\r\n", NULL, 0) == 200, "serves on");
	return 0;
}

/* loadgen sends ~100 requests; every one must come back, counted. */
static int test_loadgen_counts(void)
{
	char cmd[PATH_MAX + 128], line[512];
	unsigned long sent = 0, done = 0, err = 1, non2xx = 1, unfin = 1, lc = 0, batch = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "%s/peers/loadgen --port %d --rate 100 --duration 1 --warmup 0.2 --drain 5 "
		 "--conns %d --preconnect 2", bindir, port, MAX_CONNS - 1);
	p = popen(cmd, "r");
	T_CHECK(p, "popen");
	while (fgets(line, sizeof(line), p)) {
		fputs(line, stderr);
		sscanf(line, "loadgen: rate=%*f/s for %*fs: sent=%lu completed=%lu errors=%lu "
		       "non2xx=%lu unfinished=%lu", &sent, &done, &err, &non2xx, &unfin);
		sscanf(line, "ROUTE lc n=%lu", &lc);
		sscanf(line, "ROUTE batch n=%lu", &batch);
	}
	T_CHECK(pclose(p) == 0, "loadgen failed");
	T_CHECK(sent > 20 && done == sent, "%s: sent %lu, completed %lu", mode, sent, done);
	T_CHECK(err == 0 && non2xx == 0 && unfin == 0, "%s: errors %lu non2xx %lu unfinished %lu",
		mode, err, non2xx, unfin);
	T_CHECK(lc > 0 && batch > 0 && lc + batch <= sent, "%s: lc %lu batch %lu", mode, lc, batch);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "umcg", "threads" };
	char *slash;
	int nfail = 0;

	(void)argc;
	t_init(argv[0], 200);
	if (!realpath("/proc/self/exe", bindir))
		return T_EXIT_FAIL;
	for (int i = 0; i < 2 && (slash = strrchr(bindir, '/')); i++)
		*slash = 0;	/* <dir>/testdata/http_server_check -> <dir> */
	signal(SIGPIPE, SIG_IGN);
	for (int m = 0; m < 2; m++) {
		if (start_server(modes[m])) {
			fprintf(stderr, "FAIL http_server: %s/examples/httpd (%s) did not start\n",
				bindir, modes[m]);
			return T_EXIT_FAIL;
		}
		T_RUN(test_routes, nfail);
		T_RUN(test_malformed_gets_400, nfail);
		T_RUN(test_keep_alive, nfail);
		T_RUN(test_connection_close, nfail);
		T_RUN(test_connection_cap, nfail);
		T_RUN(test_vanished_clients_leak_nothing, nfail);
		T_RUN(test_loadgen_counts, nfail);
		if (stop_server()) {
			fprintf(stderr, "FAIL http_server: %s did not exit cleanly\n", modes[m]);
			nfail++;
		}
	}
	return t_finish(nfail);
}
