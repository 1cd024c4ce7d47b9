// SPDX-License-Identifier: MIT
/*
 * loadgen: an open-loop HTTP/1.1 load generator over epoll, for latency at
 * a fixed offered load (what wrk2 would do; it is not packaged).
 *
 * Requests are due at Poisson arrival times (exponential gaps at --rate,
 * from a fixed seed), each for /lc with probability --mix, else /batch.
 * A request is sent at its due time on an idle keep-alive connection, or
 * on a new one (up to --conns), or else waits in a backlog for the first
 * connection to come free.  Its latency counts from the due time, not from
 * when it could be sent: a server that falls behind cannot hide its queue
 * by slowing the client down (no coordinated omission).
 *
 * The run: --warmup seconds unmeasured, --duration seconds measured, then
 * at most --drain seconds for what is still out; a request still out then
 * counts with the latency it had (a lower bound) and as "unfinished".
 * Output, one line each:
 *   loadgen: <counts>
 *   ROUTE <lc|batch> n=<n> p50_us= p90_us= p99_us= p999_us= max_us=
 *   RESULT <name> throughput=<req/s> util=<0..1> lc_p50_us= lc_p99_us=
 *          batch_p50_us= batch_p99_us=
 * throughput counts responses completed inside the measured window; util
 * is --server-pid's CPU time over the window and all CPUs (0 without it).
 * --lat-out FILE appends "<name> <route> <latency_us>" per measured request.
 * Talks to 127.0.0.1 only.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { R_LC = 0, R_BATCH = 1 };
static const char *const route_name[2] = { "lc", "batch" };
static const char *const route_path[2] = { "/lc", "/batch" };

static struct {
	int port;
	double rate, duration, warmup, drain, mix;
	int max_conns, preconnect;
	const char *name, *lat_out;
	int server_pid;
	uint64_t seed;
} opt = {
	.rate = 100, .duration = 5, .warmup = 0.5, .drain = 1.0, .mix = 0.8,
	.max_conns = 256, .preconnect = 16, .name = "http", .seed = 0x2545f4914f6cdd1dull,
};

enum cstate { C_FREE, C_CONNECTING, C_IDLE, C_BUSY };

struct request {
	uint64_t due;
	int route;
};

struct conn {
	int fd;
	enum cstate state;
	struct request req;	/* while C_CONNECTING (queued) or C_BUSY */
	bool has_req;
	char buf[4096];
	size_t len;
};

static struct conn *conns;
static int nr_open, ep;
static struct request *backlog;
static size_t bl_head, bl_tail, bl_cap;
static uint64_t t_warm, t_end, t_cut;
static uint64_t *lat[2];
static size_t nlat[2], lat_cap[2];
static unsigned long n_sent, n_done, n_done_in, n_err, n_non2xx, n_unfinished, n_opened;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static void record(const struct request *r, uint64_t done)
{
	int c = r->route;

	if (r->due < t_warm || r->due >= t_end)
		return;
	if (nlat[c] == lat_cap[c]) {
		lat_cap[c] = lat_cap[c] ? 2 * lat_cap[c] : 4096;
		lat[c] = realloc(lat[c], sizeof(uint64_t) * lat_cap[c]);
		if (!lat[c])
			abort();
	}
	lat[c][nlat[c]++] = (done - r->due) / 1000;
}

/* ---- Connections ---------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	c->has_req = false;
	c->len = 0;
	nr_open--;
}

static struct conn *conn_open(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN };
	struct conn *c = NULL;
	int one = 1, fd;

	for (int i = 0; i < opt.max_conns && !c; i++)
		if (conns[i].state == C_FREE)
			c = &conns[i];
	if (!c)
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->state = C_CONNECTING;
	c->has_req = false;
	c->len = 0;
	nr_open++;
	n_opened++;
	return c;
}

static void conn_send(struct conn *c)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: umcg-loadgen\r\n\r\n",
			 route_path[c->req.route], opt.port);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	/* A request this small goes out whole on a socket with room. */
	if (send(c->fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		n_err++;
		conn_close(c);
		return;
	}
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->state = C_BUSY;
	n_sent++;
}

static void backlog_push(const struct request *r)
{
	if (bl_tail - bl_head == bl_cap) {
		size_t n = bl_cap ? 2 * bl_cap : 1024;
		struct request *nb = malloc(sizeof(*nb) * n);

		if (!nb)
			abort();
		for (size_t i = 0; i < bl_cap; i++)
			nb[i] = backlog[(bl_head + i) % bl_cap];
		free(backlog);
		backlog = nb;
		bl_tail -= bl_head;
		bl_head = 0;
		bl_cap = n;
	}
	backlog[bl_tail++ % bl_cap] = *r;
}

static bool backlog_pop(struct request *r)
{
	if (bl_head == bl_tail)
		return false;
	*r = backlog[bl_head++ % bl_cap];
	return true;
}

/* Give @c (idle or just connected) the oldest waiting request, if any. */
static void conn_next(struct conn *c)
{
	if (!c->has_req && !backlog_pop(&c->req)) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		/* Still watched for input: a close by the server frees it. */
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->state = C_IDLE;
		return;
	}
	c->has_req = true;
	conn_send(c);
}

static void issue(const struct request *r)
{
	struct conn *c = NULL;

	for (int i = 0; i < opt.max_conns && !c; i++)
		if (conns[i].state == C_IDLE)
			c = &conns[i];
	if (c) {
		c->req = *r;
		c->has_req = true;
		conn_send(c);
		return;
	}
	if (nr_open < opt.max_conns && (c = conn_open())) {
		c->req = *r;
		c->has_req = true;
		return;
	}
	backlog_push(r);
}

/*
 * A whole response in c->buf?  Returns its length (0: not yet, -1: not
 * HTTP); *status and *close say what it said.
 */
static long response_len(const struct conn *c, int *status, bool *close_after)
{
	const char *end, *p;
	unsigned long clen = 0;
	size_t head;

	end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!end)
		return c->len == sizeof(c->buf) ? -1 : 0;
	if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7))
		return -1;
	*status = atoi(c->buf + 9);
	*close_after = false;
	head = (size_t)(end - c->buf) + 4;
	for (p = memchr(c->buf, '\n', head); p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		p++;
		if (!strncasecmp(p, "Content-Length:", 15))
			clen = strtoul(p + 15, NULL, 10);
		else if (!strncasecmp(p, "Connection:", 11) && strncasecmp(p + 11, " close", 6) == 0)
			*close_after = true;
	}
	if (head + clen > sizeof(c->buf))
		return -1;
	return c->len >= head + clen ? (long)(head + clen) : 0;
}

static void on_readable(struct conn *c, uint64_t now)
{
	for (;;) {
		ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		int status = 0;
		bool close_after = false;
		long rl;

		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (k <= 0) {
			if (c->has_req)
				n_err++;	/* the request is lost: an error, not a sample */
			conn_close(c);
			return;
		}
		c->len += (size_t)k;
		rl = response_len(c, &status, &close_after);
		if (rl == 0)
			continue;
		if (rl < 0 || !c->has_req) {
			n_err++;
			conn_close(c);
			return;
		}
		n_done++;
		if (now >= t_warm && now < t_end)
			n_done_in++;
		if (status < 200 || status > 299)
			n_non2xx++;
		else
			record(&c->req, now);
		c->has_req = false;
		memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
		c->len -= (size_t)rl;
		if (close_after) {
			conn_close(c);
			return;
		}
		conn_next(c);
		return;
	}
}

static void on_event(struct conn *c, uint32_t events, uint64_t now)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err ||
		    (events & (EPOLLERR | EPOLLHUP))) {
			n_err++;
			if (c->has_req)
				backlog_push(&c->req);	/* retried on another one */
			conn_close(c);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		conn_next(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(c, now);
}

/* ---- Results --------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(int c, double p)
{
	return nlat[c] ? lat[c][(size_t)((double)(nlat[c] - 1) * p)] : 0;
}

static double proc_cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');	/* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Requests still out at the cut count with the latency they had then. */
static void count_unfinished(uint64_t cut)
{
	struct request r;

	for (int i = 0; i < opt.max_conns; i++)
		if (conns[i].has_req) {
			record(&conns[i].req, cut);
			n_unfinished++;
		}
	while (backlog_pop(&r)) {
		record(&r, cut);
		n_unfinished++;
	}
}

static void report(double util)
{
	FILE *f = opt.lat_out ? fopen(opt.lat_out, "a") : NULL;

	for (int c = 0; c < 2; c++) {
		qsort(lat[c], nlat[c], sizeof(uint64_t), cmp_u64);
		printf("ROUTE %s n=%zu p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu\n",
		       route_name[c], nlat[c], (unsigned long long)pct(c, 0.5),
		       (unsigned long long)pct(c, 0.9), (unsigned long long)pct(c, 0.99),
		       (unsigned long long)pct(c, 0.999), (unsigned long long)pct(c, 1.0));
		for (size_t i = 0; f && i < nlat[c]; i++)
			fprintf(f, "%s %s %llu\n", opt.name, route_name[c],
				(unsigned long long)lat[c][i]);
	}
	if (f)
		fclose(f);
	printf("RESULT %s throughput=%.1f util=%.3f lc_p50_us=%llu lc_p99_us=%llu "
	       "batch_p50_us=%llu batch_p99_us=%llu\n",
	       opt.name, (double)n_done_in / opt.duration, util,
	       (unsigned long long)pct(R_LC, 0.5), (unsigned long long)pct(R_LC, 0.99),
	       (unsigned long long)pct(R_BATCH, 0.5), (unsigned long long)pct(R_BATCH, 0.99));
}

/* ---- Main loop ------------------------------------------------------------ */

static void arm(int tfd, uint64_t at)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at / 1000000000ull),
						.tv_nsec = (long)(at % 1000000000ull) } };

	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Waiting requests get new connections when some were closed. */
static void refill(void)
{
	size_t spare = 0;

	for (int i = 0; i < opt.max_conns; i++)
		spare += conns[i].state == C_CONNECTING && !conns[i].has_req;
	while (bl_tail - bl_head > spare && nr_open < opt.max_conns && conn_open())
		spare++;
}

static bool outstanding(void)
{
	if (bl_head != bl_tail)
		return true;
	for (int i = 0; i < opt.max_conns; i++)
		if (conns[i].has_req)
			return true;
	return false;
}

static int run(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }, evs[64];
	uint64_t seed = opt.seed, t0 = now_ns() + 10000000ull, due = t0, now;
	double cpu_warm = 0, cpu_end = 0, ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
	bool warm_seen = false, end_seen = false;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (tfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev))
		return -1;
	t_warm = t0 + (uint64_t)(opt.warmup * 1e9);
	t_end = t_warm + (uint64_t)(opt.duration * 1e9);
	t_cut = t_end + (uint64_t)(opt.drain * 1e9);
	for (int i = 0; i < opt.preconnect && i < opt.max_conns; i++)
		conn_open();
	due += (uint64_t)(-log(1.0 - rng_unit(&seed)) / opt.rate * 1e9);
	for (;;) {
		int n;

		now = now_ns();
		while (due <= now && due < t_end) {
			struct request r = { .due = due,
					     .route = rng_unit(&seed) < opt.mix ? R_LC : R_BATCH };

			issue(&r);
			due += (uint64_t)(-log(1.0 - rng_unit(&seed)) / opt.rate * 1e9);
		}
		if (!warm_seen && now >= t_warm) {
			warm_seen = true;
			cpu_warm = opt.server_pid ? proc_cpu_s(opt.server_pid) : 0;
		}
		if (!end_seen && now >= t_end) {
			end_seen = true;
			cpu_end = opt.server_pid ? proc_cpu_s(opt.server_pid) : 0;
		}
		refill();
		if (now >= t_cut || (now >= t_end && !outstanding()))
			break;
		if (!warm_seen)
			arm(tfd, due < t_warm ? due : t_warm);
		else if (!end_seen)
			arm(tfd, due < t_end ? due : t_end);
		else
			arm(tfd, t_cut);
		n = epoll_wait(ep, evs, 64, -1);
		now = now_ns();
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					return -1;
				continue;
			}
			on_event(evs[i].data.ptr, evs[i].events, now);
		}
	}
	count_unfinished(now);
	printf("loadgen: rate=%.1f/s for %.1fs: sent=%lu completed=%lu errors=%lu non2xx=%lu "
	       "unfinished=%lu connections=%lu\n",
	       opt.rate, opt.duration, n_sent, n_done, n_err, n_non2xx, n_unfinished, n_opened);
	report(opt.server_pid ? (cpu_end - cpu_warm) / opt.duration / ncpu : 0);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen --port N [options]\n"
		"  --port N          the server on 127.0.0.1\n"
		"  --rate R          requests per second, Poisson arrivals (100)\n"
		"  --duration S      measured seconds (5)\n"
		"  --warmup S        unmeasured seconds first (0.5)\n"
		"  --drain S         at most this long for what is out at the end (1)\n"
		"  --mix F           fraction of requests for /lc, the rest /batch (0.8)\n"
		"  --conns N         connections at most (256)\n"
		"  --preconnect N    connections opened at the start (16)\n"
		"  --name NAME       config name on the RESULT line (http)\n"
		"  --server-pid PID  report that process's CPU use as util\n"
		"  --lat-out FILE    append every measured latency to FILE\n"
		"  --seed N          arrivals' random seed\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, 0, 'p' }, { "rate", 1, 0, 'r' }, { "duration", 1, 0, 'd' },
		{ "warmup", 1, 0, 'w' }, { "drain", 1, 0, 'D' }, { "mix", 1, 0, 'm' },
		{ "conns", 1, 0, 'c' }, { "preconnect", 1, 0, 'P' }, { "name", 1, 0, 'n' },
		{ "server-pid", 1, 0, 's' }, { "lat-out", 1, 0, 'o' }, { "seed", 1, 0, 'S' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:r:d:w:D:m:c:P:n:s:o:S:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p': opt.port = atoi(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'D': opt.drain = atof(optarg); break;
		case 'm': opt.mix = atof(optarg); break;
		case 'c': opt.max_conns = atoi(optarg); break;
		case 'P': opt.preconnect = atoi(optarg); break;
		case 'n': opt.name = optarg; break;
		case 's': opt.server_pid = atoi(optarg); break;
		case 'o': opt.lat_out = optarg; break;
		case 'S': opt.seed = strtoull(optarg, NULL, 0) | 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.rate <= 0 ||
	    opt.duration <= 0 || opt.warmup < 0 || opt.drain < 0 || opt.mix < 0 ||
	    opt.mix > 1 || opt.max_conns < 1 || opt.preconnect < 0) {
		usage(stderr);
		return 2;
	}
	conns = calloc((size_t)opt.max_conns, sizeof(*conns));
	if (!conns)
		return 1;
	for (int i = 0; i < opt.max_conns; i++)
		conns[i].fd = -1;
	if (run()) {
		perror("loadgen");
		return 1;
	}
	return 0;
}
