// SPDX-License-Identifier: MIT
/*
 * httpd: an HTTP/1.1 server written the plain way -- one thread of control
 * per connection, blocking accept(), recv() and send(), keep-alive -- run
 * on the UMCG toolkit (policy "prio"), or with --threads on one kernel
 * thread per connection: the same code either way.
 *
 * Routes (GET, HEAD or POST; a request body is read and dropped):
 *   /lc      latency-critical: a short compute, a pread of 4 KiB of a real
 *            file, a short sleep (a call to a backend);
 *   /batch   batch: a long compute, pread + fsync, a longer sleep;
 *   /stats   live connections and counters, no work.
 * Under UMCG a connection's worker runs at the high class while it reads
 * and parses, and at its route's class while it serves: a batch request
 * computing is preempted as soon as a latency-critical one is runnable.
 *
 * What it guarantees: a request it accepts is answered correctly
 * (Content-Length on every response, keep-alive by default in HTTP/1.1
 * and with "Connection: keep-alive" in 1.0, closed after "Connection:
 * close"); a malformed head gets 400 and the connection closes, the
 * server serves on; at most --max-conns connections at once (the next
 * one gets 503 and is closed); a client that vanishes mid-request, or
 * idles past --idle-timeout, costs its connection's fd and worker, both
 * released.  Loopback only.  SIGINT or SIGTERM: stop accepting, close the
 * connections, join everything, print the counters, exit 0.
 *
 * The compute bursts cost CPU time, not iterations (cpuburn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <umcg_sched.h>
#include "cpuburn.h"
#include "http_parse.h"

enum { CLS_BATCH = 0, CLS_LC = 1 };	/* toolkit priorities: higher runs first */
#define MAX_BODY	(1 << 20)

static struct {
	int port;
	bool threads;		/* one kernel thread per connection */
	int max_conns;
	int idle_timeout_ms;
	uint64_t burst_us[2], sleep_us[2];
	const char *port_file;
} opt = {
	.max_conns = 512,
	.idle_timeout_ms = 10000,
	.burst_us = { [CLS_LC] = 500, [CLS_BATCH] = 8000 },
	.sleep_us = { [CLS_LC] = 2000, [CLS_BATCH] = 10000 },
};

static int listen_fd = -1, data_fd = -1;
static struct umcg_sched *sched;
static atomic_bool stopping;

/* The live connections, by slot: what shutdown closes, what the cap counts. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_cv = PTHREAD_COND_INITIALIZER;
static int *conn_fd;	/* -1: free slot */
static int live;

static atomic_ulong n_requests[2], n_conns, n_bad, n_refused, n_vanished;

/*
 * Workers that returned, for the reaper to join: a toolkit worker is a
 * joinable thread whose stack lives until umcg_worker_join().
 */
struct done_worker {
	struct umcg_worker *w;
	struct done_worker *next;
};
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static struct done_worker *done_head;
static bool reaper_exit;

struct conn {
	int fd, slot;
};

/* ---- Classes ------------------------------------------------------------ */

static void set_class(int cls)
{
	if (!opt.threads)
		umcg_worker_set_priority(NULL, cls);
}

/* ---- Responses ---------------------------------------------------------- */

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static bool respond(int fd, int status, const char *reason, const char *body,
		    bool keep_alive, bool head_only, const char *extra)
{
	char buf[1024];
	size_t blen = strlen(body);
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nServer: umcg-httpd\r\n"
			 "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s%s\r\n%s",
			 status, reason, blen, keep_alive ? "" : "Connection: close\r\n",
			 extra ? extra : "", head_only ? "" : body);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return false;
	return send_all(fd, buf, (size_t)n);
}

/* ---- The work of a route ------------------------------------------------ */

static void do_work(int cls, char *out, size_t outsz)
{
	char block[4096];
	struct timespec sl = { .tv_sec = (time_t)(opt.sleep_us[cls] / 1000000),
			       .tv_nsec = (long)(opt.sleep_us[cls] % 1000000) * 1000 };
	static atomic_uint next_block;
	off_t off = (off_t)(atomic_fetch_add(&next_block, 1) % 256) * 4096;
	ssize_t got;

	cpuburn(opt.burst_us[cls]);
	got = pread(data_fd, block, sizeof(block), off);
	if (cls == CLS_BATCH && fsync(data_fd))
		got = -1;
	while (nanosleep(&sl, &sl) && errno == EINTR)
		;
	snprintf(out, outsz, "%s ok %zd\n", cls == CLS_LC ? "lc" : "batch", got);
}

static size_t path_len(const struct http_req *req)
{
	const char *q = memchr(req->target, '?', req->target_len);

	return q ? (size_t)(q - req->target) : req->target_len;
}

static bool path_is(const struct http_req *req, const char *p)
{
	return path_len(req) == strlen(p) && !memcmp(req->target, p, strlen(p));
}

/* Answer one parsed request; false: the connection is to close. */
static bool serve_request(int fd, const struct http_req *req)
{
	bool head = http_method_is(req, "HEAD"), ka = req->keep_alive;
	char body[128];
	int cls;

	if (!http_method_is(req, "GET") && !head && !http_method_is(req, "POST"))
		return respond(fd, 405, "Method Not Allowed", "method not allowed\n",
			       ka, false, "Allow: GET, HEAD, POST\r\n") && ka;
	if (path_is(req, "/stats")) {
		pthread_mutex_lock(&conns_lock);
		snprintf(body, sizeof(body),
			 "live=%d conns=%lu lc=%lu batch=%lu bad=%lu refused=%lu vanished=%lu\n",
			 live, atomic_load(&n_conns), atomic_load(&n_requests[CLS_LC]),
			 atomic_load(&n_requests[CLS_BATCH]), atomic_load(&n_bad),
			 atomic_load(&n_refused), atomic_load(&n_vanished));
		pthread_mutex_unlock(&conns_lock);
		return respond(fd, 200, "OK", body, ka, head, NULL) && ka;
	}
	if (path_is(req, "/lc"))
		cls = CLS_LC;
	else if (path_is(req, "/batch"))
		cls = CLS_BATCH;
	else
		return respond(fd, 404, "Not Found", "not found\n", ka, head, NULL) && ka;
	set_class(cls);
	do_work(cls, body, sizeof(body));
	atomic_fetch_add(&n_requests[cls], 1);
	return respond(fd, 200, "OK", body, ka, head, NULL) && ka;
}

/* Read and drop @n body bytes, @have of which are already in @buf. */
static bool skip_body(int fd, uint64_t n, size_t have)
{
	char sink[4096];

	n -= have;
	while (n) {
		ssize_t k = recv(fd, sink, n < sizeof(sink) ? n : sizeof(sink), 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		n -= (uint64_t)k;
	}
	return true;
}

/*
 * One connection, start to end.  Bytes after a request (pipelining) stay
 * in the buffer for the next one.
 */
static void serve_conn(int fd)
{
	char buf[HTTP_MAX_HEAD];
	size_t have = 0;

	for (;;) {
		struct http_req req;
		enum http_parse_result r;
		size_t used;

		set_class(CLS_LC);	/* read and parse at the high class */
		r = http_parse_request(buf, have, &req);
		if (r == HTTP_PARSE_AGAIN) {
			ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				/* EOF between requests is a normal close. */
				if (have || k < 0)
					atomic_fetch_add(&n_vanished, 1);
				return;
			}
			have += (size_t)k;
			continue;
		}
		if (r != HTTP_PARSE_DONE) {
			atomic_fetch_add(&n_bad, 1);
			if (r == HTTP_PARSE_TOO_BIG)
				respond(fd, 431, "Request Header Fields Too Large",
					"header too large\n", false, false, NULL);
			else
				respond(fd, 400, "Bad Request", "bad request\n", false,
					false, NULL);
			return;
		}
		if (req.chunked) {
			respond(fd, 501, "Not Implemented", "chunked bodies not supported\n",
				false, false, NULL);
			return;
		}
		if (req.content_length > MAX_BODY) {
			respond(fd, 413, "Content Too Large", "body too large\n", false,
				false, NULL);
			return;
		}
		used = req.head_len;
		if (req.content_length <= have - used) {
			used += (size_t)req.content_length;
		} else {
			if (!skip_body(fd, req.content_length, have - used)) {
				atomic_fetch_add(&n_vanished, 1);
				return;
			}
			used = have;
		}
		if (!serve_request(fd, &req))
			return;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
}

static void release_slot(int slot)
{
	pthread_mutex_lock(&conns_lock);
	conn_fd[slot] = -1;
	live--;
	pthread_cond_broadcast(&conns_cv);
	pthread_mutex_unlock(&conns_lock);
}

static void *conn_main(void *arg)
{
	struct conn c = *(struct conn *)arg;

	free(arg);
	serve_conn(c.fd);
	/* Out of the table first: shutdown must never touch a reused fd. */
	pthread_mutex_lock(&conns_lock);
	conn_fd[c.slot] = -1;
	close(c.fd);
	pthread_mutex_unlock(&conns_lock);
	if (!opt.threads) {
		struct done_worker *d = malloc(sizeof(*d));

		if (d) {
			d->w = umcg_worker_self();
			pthread_mutex_lock(&done_lock);
			d->next = done_head;
			done_head = d;
			pthread_cond_signal(&done_cv);
			pthread_mutex_unlock(&done_lock);
		}
	}
	release_slot(c.slot);
	return NULL;
}

/* Joins finished workers (a plain thread, not a worker). */
static void *reaper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&done_lock);
	for (;;) {
		struct done_worker *d = done_head;

		if (!d && reaper_exit)
			break;
		if (!d) {
			pthread_cond_wait(&done_cv, &done_lock);
			continue;
		}
		done_head = d->next;
		pthread_mutex_unlock(&done_lock);
		umcg_worker_join(d->w, NULL);
		free(d);
		pthread_mutex_lock(&done_lock);
	}
	pthread_mutex_unlock(&done_lock);
	return NULL;
}

/* ---- Accepting ---------------------------------------------------------- */

static int spawn(void *(*fn)(void *), void *arg, int cls)
{
	if (!opt.threads) {
		struct umcg_worker_attr wa;

		umcg_worker_attr_init(&wa);
		wa.priority = cls;
		wa.stack_size = 128 * 1024;	/* serve_conn() keeps 8 KiB of head */
		return umcg_worker_spawn(sched, NULL, fn, arg, &wa);
	} else {
		pthread_attr_t pa;
		pthread_t t;
		int r;

		pthread_attr_init(&pa);
		pthread_attr_setdetachstate(&pa, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&pa, 128 * 1024);
		r = -pthread_create(&t, &pa, fn, arg);
		pthread_attr_destroy(&pa);
		return r;
	}
}

static void refuse(int fd)
{
	atomic_fetch_add(&n_refused, 1);
	respond(fd, 503, "Service Unavailable", "too many connections\n", false, false,
		NULL);
	close(fd);
}

static int take_slot(int fd)
{
	int slot = -1;

	pthread_mutex_lock(&conns_lock);
	if (live < opt.max_conns && !atomic_load(&stopping))
		for (int i = 0; i < opt.max_conns; i++)
			if (conn_fd[i] < 0) {
				conn_fd[i] = fd;
				slot = i;
				live++;
				break;
			}
	pthread_mutex_unlock(&conns_lock);
	return slot;
}

static void *acceptor(void *arg)
{
	struct timeval tv = { .tv_sec = opt.idle_timeout_ms / 1000,
			      .tv_usec = (opt.idle_timeout_ms % 1000) * 1000 };
	int one = 1;

	(void)arg;
	while (!atomic_load(&stopping)) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;
		int slot;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(1000);
				continue;
			}
			break;	/* shutdown(listen_fd) */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		slot = take_slot(fd);
		if (slot < 0) {
			refuse(fd);
			continue;
		}
		c = malloc(sizeof(*c));
		if (c)
			*c = (struct conn){ .fd = fd, .slot = slot };
		if (!c || spawn(conn_main, c, CLS_LC)) {
			free(c);
			pthread_mutex_lock(&conns_lock);
			conn_fd[slot] = -1;
			pthread_mutex_unlock(&conns_lock);
			release_slot(slot);
			refuse(fd);
			continue;
		}
		atomic_fetch_add(&n_conns, 1);
	}
	return NULL;
}

/* ---- Set-up and shutdown ------------------------------------------------ */

static int open_listener(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)opt.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		close(fd);
		return -1;
	}
	opt.port = ntohs(a.sin_port);
	return fd;
}

/* A real 1 MiB file in a temporary folder, removed again at once. */
static int open_data_file(void)
{
	char dir[] = "/tmp/umcg-httpd-XXXXXX", path[64];
	static char block[1 << 20];
	int fd;

	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unlink(path);
	rmdir(dir);
	memset(block, 0xa5, sizeof(block));
	if (fd >= 0 && (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fsync(fd))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int start(pthread_t *acc)
{
	if (opt.threads)
		return -pthread_create(acc, NULL, acceptor, NULL);

	struct umcg_sched_attr a;
	struct umcg_policy_prio_arg pa = { .nr_classes = 2, .preempt_on_wake = true };

	umcg_sched_attr_init(&a);
	a.policy = umcg_policy_prio;
	a.policy_arg = &pa;
	/* As the demo: a wake-up between a server and its worker stays on one CPU. */
	a.pin_workers = 1;
	if (umcg_sched_create(&sched, &a))
		return -1;
	return spawn(acceptor, NULL, CLS_LC);
}

/* Stop accepting, close every connection, wait until all are gone. */
static void stop(pthread_t acc, pthread_t reap)
{
	atomic_store(&stopping, true);
	shutdown(listen_fd, SHUT_RDWR);
	if (opt.threads)
		pthread_join(acc, NULL);
	pthread_mutex_lock(&conns_lock);
	for (int i = 0; i < opt.max_conns; i++)
		if (conn_fd[i] >= 0)
			shutdown(conn_fd[i], SHUT_RDWR);
	while (live)
		pthread_cond_wait(&conns_cv, &conns_lock);
	pthread_mutex_unlock(&conns_lock);
	if (!opt.threads) {
		pthread_mutex_lock(&done_lock);
		reaper_exit = true;
		pthread_cond_signal(&done_cv);
		pthread_mutex_unlock(&done_lock);
		pthread_join(reap, NULL);
		umcg_sched_destroy(sched);	/* joins the acceptor */
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: httpd [options]\n"
		"  --port N            TCP port on 127.0.0.1 (0: any free one; default 0)\n"
		"  --port-file PATH    write the port there once listening\n"
		"  --threads           one kernel thread per connection instead of UMCG\n"
		"  --max-conns N       connections at once; the next gets 503 (512)\n"
		"  --idle-timeout MS   close a connection silent this long (10000)\n"
		"  --lc-burst US       compute of /lc (500)\n"
		"  --lc-sleep US       backend call of /lc (2000)\n"
		"  --batch-burst US    compute of /batch (8000)\n"
		"  --batch-sleep US    backend call of /batch (10000)\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, 0, 'p' }, { "port-file", 1, 0, 'f' }, { "threads", 0, 0, 't' },
		{ "max-conns", 1, 0, 'm' }, { "idle-timeout", 1, 0, 'i' },
		{ "lc-burst", 1, 0, 1 }, { "lc-sleep", 1, 0, 2 },
		{ "batch-burst", 1, 0, 3 }, { "batch-sleep", 1, 0, 4 },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:f:tm:i:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p': opt.port = atoi(optarg); break;
		case 'f': opt.port_file = optarg; break;
		case 't': opt.threads = true; break;
		case 'm': opt.max_conns = atoi(optarg); break;
		case 'i': opt.idle_timeout_ms = atoi(optarg); break;
		case 1: opt.burst_us[CLS_LC] = strtoull(optarg, NULL, 0); break;
		case 2: opt.sleep_us[CLS_LC] = strtoull(optarg, NULL, 0); break;
		case 3: opt.burst_us[CLS_BATCH] = strtoull(optarg, NULL, 0); break;
		case 4: opt.sleep_us[CLS_BATCH] = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || opt.port < 0 || opt.port > 65535 || opt.max_conns < 1 ||
	    opt.idle_timeout_ms < 1) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t acc = 0, reap = 0;
	sigset_t set;
	int sig;

	if (parse_args(argc, argv))
		return 2;
	/* Only the main thread takes the stop signals: every thread inherits this. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	conn_fd = malloc(sizeof(*conn_fd) * (size_t)opt.max_conns);
	data_fd = open_data_file();
	listen_fd = open_listener();
	if (!conn_fd || data_fd < 0 || listen_fd < 0) {
		perror("httpd: set-up");
		return 1;
	}
	for (int i = 0; i < opt.max_conns; i++)
		conn_fd[i] = -1;
	cpuburn_calibrate();
	if ((!opt.threads && pthread_create(&reap, NULL, reaper, NULL)) || start(&acc)) {
		fprintf(stderr, "httpd: cannot start the %s\n",
			opt.threads ? "acceptor" : "scheduler");
		return 1;
	}
	if (opt.port_file) {
		FILE *f = fopen(opt.port_file, "w");

		if (!f || fprintf(f, "%d\n", opt.port) < 0 || fclose(f)) {
			perror("httpd: port file");
			return 1;
		}
	}
	printf("httpd: listening on 127.0.0.1:%d (%s, max %d connections)\n", opt.port,
	       opt.threads ? "a kernel thread per connection" : "umcg, policy prio",
	       opt.max_conns);
	fflush(stdout);
	while (sigwait(&set, &sig))
		;
	stop(acc, reap);
	printf("httpd: stopped: conns=%lu lc=%lu batch=%lu bad=%lu refused=%lu vanished=%lu\n",
	       atomic_load(&n_conns), atomic_load(&n_requests[CLS_LC]),
	       atomic_load(&n_requests[CLS_BATCH]), atomic_load(&n_bad),
	       atomic_load(&n_refused), atomic_load(&n_vanished));
	close(listen_fd);
	close(data_fd);
	free(conn_fd);
	return 0;
}
