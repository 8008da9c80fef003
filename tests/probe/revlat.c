// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * revlat: how long `bulkhead revoke` takes to return, and the proof that the
 * revocation is enforced in the kernel by the time it has returned. Driven
 * by tools/revoke-latency.sh (partner cgroup, namespaces, daemon, cleanup);
 * built there with
 *   cc -O2 -Wall -Wextra -Werror -o revlat tests/probe/revlat.c -ljansson -lpthread
 *
 * Three parties, one clock (CLOCK_BOOTTIME, the kernel's event clock):
 *   - the sender, a child process in the partner cgroup, owns a UDP socket
 *     connected to ADDR:PORT and, once told to stream, sends datagrams back
 *     to back, one every INTERVAL (default 5 us), each carrying its
 *     revocation number, a sequence number and CLOCK_BOOTTIME read right
 *     before its send(); it notes which send() the kernel refused first
 *     (a cgroup egress drop fails the send() of a UDP datagram with EPERM)
 *     and the last one it accepted;
 *   - the receiver, a thread of this process whose socket lives in the
 *     server network namespace, records what arrives: how many datagrams and
 *     the latest send time among them;
 *   - this process runs the CLI: t_inv = CLOCK_BOOTTIME before fork(),
 *     t_ret = CLOCK_BOOTTIME when waitpid() returned (exit status 0 required).
 *
 * Per revocation i (port BASE+i, so each flow has its own deny-aggregation
 * key and its own first-drop event): `bulkhead grant PARTNER --to ADDR
 * --proto udp --ports P --ttl 1h`, connect, one datagram must arrive, the
 * stream starts, after LEAD datagrams `bulkhead revoke PARTNER --grant ID`
 * runs, the stream goes on for TAIL (default 1 ms) after t_ret and until the
 * kernel refused a datagram (1 s at most), stops, and the receiver drains
 * (until 20 ms pass without a datagram). Then, over all revocations:
 *   cli          t_ret - t_inv
 *   last_arrived (send time of the latest datagram the server received) - t_ret:
 *                must be <= 0, else a datagram sent after the CLI returned got
 *                through (a violation)
 *   refused      (send time of the first datagram the kernel refused) - t_ret,
 *                and the end of that send() - t_ret: the kernel drop happened
 *                in between (the sender's own CLOCK_BOOTTIME). The gap from the
 *                last accepted datagram to it brackets the policy switch; where
 *                it is at most 4 send intervals (the sender was on its CPU at
 *                the switch), the first refusal - t_ret says when enforcement
 *                began, to within those few us (switch_tight).
 *   drop_event   ts of the flow's first `packet` deny event (reason revoked)
 *                - t_ret. The event carries the kernel's bpf_ktime_get_boot_ns()
 *                written as wall-clock RFC 3339 with microseconds (the daemon
 *                adds its CLOCK_REALTIME - CLOCK_BOOTTIME offset, sampled every
 *                second); it is turned back into CLOCK_BOOTTIME here with the
 *                offset sampled right after t_ret (error: the truncation to
 *                1 us plus the offset's drift within a second, which is
 *                reported: offset_spread_ns over the whole run). Each converted
 *                drop is checked to fall inside the sender's refused send().
 * With socket destruction on (the daemon's default), the daemon destroys the
 * sender's socket right after its reply; a sender kept off its CPU until then
 * finds its socket gone (EDESTADDRREQ) instead of a kernel drop: counted
 * apart, such a revocation has no drop event.
 *
 * --sender-cpu pins the sender to a CPU (the script puts everything else on
 * another one, so the daemon's work does not preempt the stream); --nice sets
 * the sender's nice value.
 *
 *   revlat --bulkhead BIN --partner P --cgroup DIR --server-netns PATH
 *          --addr A --port-base N --events FILE [-n N] [--interval-us U]
 *          [--tail-us U] [--lead N] [--sender-cpu N] [--nice N]
 *          [--label TEXT] [--json FILE]
 *
 * Run in the client network namespace, as root, with the daemon running and
 * BULKHEAD_CONTROL set. Prints a table; --json writes the figures and every
 * sample. Exit status 1 on a violation, a revocation whose stream was never
 * refused, a kernel refusal without its drop event, a datagram dropped by the
 * receiving socket (it could hide a violation), or any failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "common.h"

#define RL_MAGIC 0x7265766c61743031ull	/* "revlat01" */
#define NS_PER_US 1000ll
#define NS_PER_SEC 1000000000ll

struct opts {
	const char *bulkhead, *partner, *addr, *cg, *srv_ns, *events, *json, *label;
	unsigned long n, port_base, interval_us, tail_us, lead;
	long nice;		/* of the sender */
	long cpu;		/* the sender's CPU, -1: any */
};

/* One datagram of the stream. */
struct rl_pkt {
	uint64_t magic;
	uint32_t iter;
	uint32_t pad;
	uint64_t seq;		/* 0: the probe before the stream */
	int64_t ts;		/* CLOCK_BOOTTIME right before send() */
};

/* What the sender reports about one stream. */
struct stream_result {
	int32_t err;		/* a failure of the stream itself */
	int32_t first_fail_err;	/* errno of the first refused send() */
	uint64_t nok, nfail;
	int64_t last_ok_ts;	/* send time of the last accepted datagram before the first refusal */
	int64_t first_fail_ts;	/* send time of the first refused datagram (0: none) */
	int64_t first_fail_ret;	/* when that send() returned */
	int64_t max_gap;	/* largest gap between two consecutive send times */
};

/* Shared with the sender (anonymous shared mapping). */
struct shared {
	_Atomic uint64_t sent;	/* datagrams handed to send() in the current stream */
	_Atomic int refused;	/* the kernel refused one of them */
	_Atomic int stop;	/* end the current stream */
};

struct req {
	char op;		/* 'C' connect, 'P' probe, 'S' stream, 'X' close */
	uint32_t iter;
	uint16_t port;
};

/* The receiver thread's view of the current revocation. */
struct rx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;			/* -1: idle */
	int finish;		/* main: drain what is left and report */
	int done;		/* thread: reported */
	int quit;
	uint32_t iter;
	uint64_t n;		/* datagrams of this revocation received */
	uint64_t foreign;	/* datagrams that are not (stale, other revocation) */
	int64_t max_ts;		/* latest send time among them (stream only) */
	int probe_seen;
	uint32_t drops;		/* the socket's receive-queue drops */
};

/* Per revocation, for the figures. */
struct sample {
	int64_t t_inv, t_ret, offset;	/* offset = CLOCK_REALTIME - CLOCK_BOOTTIME after t_ret */
	struct stream_result s;
	uint64_t received;
	int64_t max_arrived_ts;		/* 0: nothing of the stream arrived */
	uint32_t rx_drops;
	int64_t drop_event_boot;	/* 0: no event */
	char drop_hook;
};

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* CLOCK_REALTIME - CLOCK_BOOTTIME, from the tightest of three samples. */
static int64_t clock_offset(void)
{
	int64_t best = 0, width = INT64_MAX;
	int i;

	for (i = 0; i < 3; i++) {
		int64_t b0 = now_ns(CLOCK_BOOTTIME), r = now_ns(CLOCK_REALTIME);
		int64_t b1 = now_ns(CLOCK_BOOTTIME);

		if (b1 - b0 < width) {
			width = b1 - b0;
			best = r - (b0 + (b1 - b0) / 2);
		}
	}
	return best;
}

static int parse_ulong(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max) {
		fprintf(stderr, "revlat: %s: bad number '%s'\n", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int full_io(int fd, void *buf, size_t len, int wr)
{
	char *p = buf;

	while (len) {
		ssize_t r = wr ? write(fd, p, len) : read(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* ------------------------------------------------------------------ sender */

static void stream(int fd, uint32_t iter, int64_t interval, struct shared *sh,
		   struct stream_result *r)
{
	struct rl_pkt p = { .magic = RL_MAGIC, .iter = iter };
	int64_t next = now_ns(CLOCK_BOOTTIME), prev = 0, t, t2;

	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		while ((t = now_ns(CLOCK_BOOTTIME)) < next)
			;	/* a few us: spin */
		p.seq++;
		p.ts = t;
		ssize_t w = send(fd, &p, sizeof(p), MSG_NOSIGNAL);

		t2 = now_ns(CLOCK_BOOTTIME);
		atomic_store_explicit(&sh->sent, p.seq, memory_order_relaxed);
		if (prev && t - prev > r->max_gap)
			r->max_gap = t - prev;
		prev = t;
		if (w == (ssize_t)sizeof(p)) {
			r->nok++;
			if (!r->nfail)
				r->last_ok_ts = t;
		} else {
			if (!r->nfail++) {
				r->first_fail_ts = t;
				r->first_fail_ret = t2;
				r->first_fail_err = w < 0 ? errno : EMSGSIZE;
				atomic_store_explicit(&sh->refused, 1, memory_order_relaxed);
			}
		}
		next += interval;
		if (next < t2)
			next = t2;	/* late (preempted): go on from now */
	}
}

/* The child: joins the partner cgroup, then serves requests until EOF. */
static void sender_main(int sk, const struct opts *o, struct shared *sh)
{
	char path[PATH_MAX];
	struct req q;
	int fd = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", o->cg);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
		fprintf(stderr, "revlat: cannot join %s: %s\n", o->cg, strerror(errno));
		_exit(1);
	}
	if (o->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET((int)o->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			fprintf(stderr, "revlat: sender on CPU %ld: %s\n", o->cpu, strerror(errno));
	}
	if (o->nice && setpriority(PRIO_PROCESS, 0, (int)o->nice))
		fprintf(stderr, "revlat: sender nice %ld: %s\n", o->nice, strerror(errno));
	while (full_io(sk, &q, sizeof(q), 0) == 0) {
		struct stream_result r = {};
		struct sockaddr_storage ss;
		socklen_t len;

		if (q.op == 'C') {
			if (sockaddr_parse(o->addr, q.port, 0, &ss, &len))
				r.err = EINVAL;
			else if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
				 connect(fd, (struct sockaddr *)&ss, len))
				r.err = errno;
		} else if (q.op == 'P') {
			struct rl_pkt p = { .magic = RL_MAGIC, .iter = q.iter,
					    .ts = now_ns(CLOCK_BOOTTIME) };

			if (send(fd, &p, sizeof(p), MSG_NOSIGNAL) != (ssize_t)sizeof(p))
				r.err = errno;
		} else if (q.op == 'S') {
			stream(fd, q.iter, (int64_t)o->interval_us * NS_PER_US, sh, &r);
		} else if (q.op == 'X') {
			if (fd >= 0)
				close(fd);
			fd = -1;
		} else {
			r.err = EINVAL;
		}
		if (full_io(sk, &r, sizeof(r), 1))
			break;
	}
	_exit(0);
}

static int sender_call(int sk, char op, uint32_t iter, uint16_t port, struct stream_result *r)
{
	struct req q = { .op = op, .iter = iter, .port = port };

	if (full_io(sk, &q, sizeof(q), 1) || (r && full_io(sk, r, sizeof(*r), 0))) {
		fprintf(stderr, "revlat: the sender went away\n");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- receiver */

static uint32_t rx_drops(int fd)
{
	uint32_t mem[SK_MEMINFO_VARS] = {};
	socklen_t len = sizeof(mem);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) || len <= SK_MEMINFO_DROPS * 4)
		return 0;
	return mem[SK_MEMINFO_DROPS];
}

static void *rx_main(void *arg)
{
	struct rx *x = arg;
	struct rl_pkt buf[64];
	struct mmsghdr m[64];
	struct iovec iov[64];
	int i;

	for (i = 0; i < 64; i++) {
		iov[i] = (struct iovec){ .iov_base = &buf[i], .iov_len = sizeof(buf[i]) };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	pthread_mutex_lock(&x->mu);
	for (;;) {
		int fd, finish, got;
		struct pollfd p;

		while (!x->quit && (x->fd < 0 || x->done))
			pthread_cond_wait(&x->cv, &x->mu);
		if (x->quit)
			break;
		fd = x->fd;
		finish = x->finish;
		pthread_mutex_unlock(&x->mu);

		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		got = poll(&p, 1, finish ? 20 : 2) > 0 ? recvmmsg(fd, m, 64, MSG_DONTWAIT, NULL) : 0;

		pthread_mutex_lock(&x->mu);
		for (i = 0; i < got; i++) {
			if (m[i].msg_len != sizeof(buf[i]) || buf[i].magic != RL_MAGIC ||
			    buf[i].iter != x->iter) {
				x->foreign++;
				continue;
			}
			x->n++;
			if (!buf[i].seq)
				x->probe_seen = 1;
			else if (buf[i].ts > x->max_ts)
				x->max_ts = buf[i].ts;
		}
		if (finish && got <= 0) {	/* drained: 20 ms without a datagram */
			x->drops = rx_drops(fd);
			x->done = 1;
			pthread_cond_broadcast(&x->cv);
		}
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/* A UDP socket on [::]:port in the server network namespace. */
static int rx_socket(int own_ns, int srv_ns, unsigned int port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd, zero = 0, big = 32 << 20, err;

	if (setns(srv_ns, CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	err = fd < 0 ? -errno : 0;
	if (!err) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			err = -errno;
			close(fd);
		}
	}
	if (setns(own_ns, CLONE_NEWNET) && !err) {
		err = -errno;
		close(fd);
	}
	return err ? err : fd;
}

static void rx_begin(struct rx *x, int fd, uint32_t iter)
{
	pthread_mutex_lock(&x->mu);
	x->fd = fd;
	x->iter = iter;
	x->n = x->foreign = 0;
	x->max_ts = 0;
	x->probe_seen = 0;
	x->finish = x->done = 0;
	x->drops = 0;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

/* Wait up to ms for the probe; 0 if it arrived. */
static int rx_wait_probe(struct rx *x, int ms)
{
	int64_t until = now_ns(CLOCK_MONOTONIC) + ms * 1000000ll;
	int seen;

	for (;;) {
		pthread_mutex_lock(&x->mu);
		seen = x->probe_seen;
		pthread_mutex_unlock(&x->mu);
		if (seen)
			return 0;
		if (now_ns(CLOCK_MONOTONIC) > until)
			return -1;
		usleep(200);
	}
}

/* Drain, then stop using the socket; fills the sample's receive side. */
static void rx_end(struct rx *x, struct sample *s)
{
	pthread_mutex_lock(&x->mu);
	x->finish = 1;
	while (!x->done)
		pthread_cond_wait(&x->cv, &x->mu);
	s->received = x->n;
	s->max_arrived_ts = x->max_ts;
	s->rx_drops = x->drops;
	close(x->fd);
	x->fd = -1;
	pthread_mutex_unlock(&x->mu);
}

/* ------------------------------------------------------------------ the CLI */

/* Run argv; its stdout into out (cap bytes) unless out is NULL (then
 * /dev/null). Returns the exit status (128 + signal, 127 if not started). */
static int run_cli(char **argv, char *out, size_t cap)
{
	int p[2] = { -1, -1 }, status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (out && pipe2(p, O_CLOEXEC))
		return 127;
	if (!out && (p[1] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		return 127;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 127;
	if (pid == 0) {
		dup2(p[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	if (out) {
		while ((r = read(p[0], out + n, cap - 1 - n)) > 0 || (r < 0 && errno == EINTR))
			if (r > 0)
				n += (size_t)r;
		out[n] = '\0';
		close(p[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ------------------------------------------------------------ drop events */

/* "2026-11-23T11:20:31.123456Z" -> ns since the epoch (us precision); -1 if malformed. */
static int64_t rfc3339_ns(const char *s)
{
	struct tm tm = {};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t us = 0;
	int digits = 0;

	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 6)
				us = us * 10 + (*p - '0');
	for (; digits < 6; digits++)
		us *= 10;
	if (*p != 'Z')
		return -1;
	return (int64_t)timegm(&tm) * NS_PER_SEC + us * NS_PER_US;
}

/* The first `packet` deny event with reason revoked of each flow (by port),
 * converted to CLOCK_BOOTTIME with that revocation's offset. Returns how many
 * revocations have one. */
static size_t read_drops(const struct opts *o, struct sample *sm)
{
	FILE *f = fopen(o->events, "r");
	char *line = NULL;
	size_t cap = 0, found = 0, i;

	if (!f)
		return 0;
	for (i = 0; i < o->n; i++)
		sm[i].drop_event_boot = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *e = json_loads(line, 0, NULL);
		const char *type, *reason, *hook, *ts, *proto;
		json_int_t port;
		int64_t t;

		if (!e)
			continue;
		type = json_string_value(json_object_get(e, "type"));
		reason = json_string_value(json_object_get(e, "reason"));
		hook = json_string_value(json_object_get(e, "hook"));
		proto = json_string_value(json_object_get(e, "proto"));
		ts = json_string_value(json_object_get(e, "ts"));
		port = json_integer_value(json_object_get(e, "dport"));
		if (type && reason && ts && hook && proto && !strcmp(type, "packet") &&
		    !strcmp(reason, "revoked") && !strcmp(proto, "udp") &&
		    !json_is_true(json_object_get(e, "aggregated")) &&
		    port >= (json_int_t)o->port_base && port < (json_int_t)(o->port_base + o->n) &&
		    (t = rfc3339_ns(ts)) >= 0) {
			i = (size_t)(port - (json_int_t)o->port_base);
			t -= sm[i].offset;
			if (!sm[i].drop_event_boot || t < sm[i].drop_event_boot) {
				found += !sm[i].drop_event_boot;
				sm[i].drop_event_boot = t;
				sm[i].drop_hook = hook[0];
			}
		}
		json_decref(e);
	}
	free(line);
	fclose(f);
	return found;
}

/* ------------------------------------------------------------------ figures */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	int64_t min, median, p99, max;
	size_t n;
};

/* Median (the lower middle for an even count), p99 by nearest rank, over
 * v[0..n) (sorted in place). */
static struct stats stats_of(int64_t *v, size_t n)
{
	struct stats s = { .n = n };

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_i64);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = v[(n - 1) / 2];
	s.p99 = v[(99 * n + 99) / 100 - 1];	/* ceil(0.99 n) */
	return s;
}

static json_t *stats_json(const struct stats *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "n", (json_int_t)s->n, "min",
			 (json_int_t)s->min, "median", (json_int_t)s->median, "p99",
			 (json_int_t)s->p99, "max", (json_int_t)s->max);
}

static void stats_row(const char *what, const struct stats *s)
{
	if (!s->n) {
		printf("  %-50s %10s\n", what, "(none)");
		return;
	}
	printf("  %-50s %10.1f %10.1f %10.1f %10.1f %6zu\n", what, s->min / 1e3, s->median / 1e3,
	       s->p99 / 1e3, s->max / 1e3, s->n);
}

/* Figures over all revocations: printed, and into j when not NULL. */
static int report(const struct opts *o, struct sample *sm, size_t found, json_t *j)
{
	int64_t *v = calloc(o->n, sizeof(*v)), off_min = INT64_MAX, off_max = INT64_MIN;
	size_t i, k, viol = 0, unrefused = 0, eperm = 0, lost = 0, inside = 0;
	uint64_t drops = 0, sent = 0, refused = 0;
	static const struct {
		const char *key, *label;
	} rows[] = {
		{ "cli_ns", "CLI invocation -> return" },
		{ "last_arrived_ns", "last datagram received (its send time) - return" },
		{ "first_refused_send_ns", "first datagram refused (its send time) - return" },
		{ "first_refused_return_ns", "... its send() returned EPERM - return" },
		{ "drop_event_ns", "kernel drop event ts (first, revoked) - return" },
		{ "refusal_bracket_ns", "last accepted -> first refused send time" },
		{ "switch_tight_ns", "first refused - return, bracket <= 4 intervals" },
	};
	int ret = 0;

	if (!v)
		return -1;
	printf("\nrevoke latency, %s: %lu revocations; partner %s, connected UDP flow to %s, "
	       "one datagram every %lu us\n\n", o->label, o->n, o->partner, o->addr,
	       o->interval_us);
	printf("  %-50s %10s %10s %10s %10s %6s\n", "us", "min", "median", "p99", "max", "n");
	for (k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		struct stats st;
		size_t n = 0;

		for (i = 0; i < o->n; i++) {
			const struct sample *s = &sm[i];

			switch (k) {
			case 0: v[n++] = s->t_ret - s->t_inv; break;
			case 1: if (s->max_arrived_ts) v[n++] = s->max_arrived_ts - s->t_ret; break;
			case 2: if (s->s.nfail) v[n++] = s->s.first_fail_ts - s->t_ret; break;
			case 3: if (s->s.nfail) v[n++] = s->s.first_fail_ret - s->t_ret; break;
			case 4: if (s->drop_event_boot) v[n++] = s->drop_event_boot - s->t_ret; break;
			case 5: if (s->s.nfail && s->s.last_ok_ts)
					v[n++] = s->s.first_fail_ts - s->s.last_ok_ts;
				break;
			case 6: if (s->s.nfail && s->s.last_ok_ts && s->s.first_fail_ts -
					s->s.last_ok_ts <= 4 * (int64_t)o->interval_us * NS_PER_US)
					v[n++] = s->s.first_fail_ts - s->t_ret;
				break;
			}
		}
		st = stats_of(v, n);
		stats_row(rows[k].label, &st);
		if (j)
			json_object_set_new(j, rows[k].key, stats_json(&st));
	}
	for (i = 0; i < o->n; i++) {
		const struct sample *s = &sm[i];

		viol += s->max_arrived_ts > s->t_ret;
		unrefused += !s->s.nfail;
		eperm += s->s.nfail && s->s.first_fail_err == EPERM;
		lost += s->s.nfail && s->max_arrived_ts != s->s.last_ok_ts;
		/* the converted event inside the refused send(), within the 1 us
		 * truncation of the event's ts */
		inside += s->drop_event_boot && s->s.nfail &&
			  s->drop_event_boot >= s->s.first_fail_ts - NS_PER_US &&
			  s->drop_event_boot <= s->s.first_fail_ret;
		drops += s->rx_drops;
		sent += s->s.nok + s->s.nfail;
		refused += s->s.nfail;
		if (s->offset < off_min)
			off_min = s->offset;
		if (s->offset > off_max)
			off_max = s->offset;
	}
	printf("\n  datagrams sent %llu, refused by the kernel %llu; receive-queue drops %llu\n",
	       (unsigned long long)sent, (unsigned long long)refused, (unsigned long long)drops);
	printf("  violations (a datagram sent after the CLI returned was received): %zu\n", viol);
	printf("  revocations whose stream was never refused: %zu\n", unrefused);
	printf("  first refusal an EPERM (a kernel drop): %zu; the socket already destroyed by the\n"
	       "  daemon when the sender sent again (no packet, so no drop event): %zu\n", eperm,
	       o->n - unrefused - eperm);
	printf("  last accepted datagram not the last received (lost on the way): %zu\n", lost);
	printf("  drop events found: %zu; inside the refused send(): %zu\n", found, inside);
	printf("  CLOCK_REALTIME - CLOCK_BOOTTIME moved by %lld ns over the run\n\n",
	       (long long)(off_max - off_min));
	if (j) {
		json_object_set_new(j, "violations", json_integer((json_int_t)viol));
		json_object_set_new(j, "never_refused", json_integer((json_int_t)unrefused));
		json_object_set_new(j, "first_refusal_eperm", json_integer((json_int_t)eperm));
		json_object_set_new(j, "first_refusal_socket_destroyed",
				    json_integer((json_int_t)(o->n - unrefused - eperm)));
		json_object_set_new(j, "lost_on_the_way", json_integer((json_int_t)lost));
		json_object_set_new(j, "receive_queue_drops", json_integer((json_int_t)drops));
		json_object_set_new(j, "datagrams_sent", json_integer((json_int_t)sent));
		json_object_set_new(j, "datagrams_refused", json_integer((json_int_t)refused));
		json_object_set_new(j, "drop_events_found", json_integer((json_int_t)found));
		json_object_set_new(j, "drop_events_inside_refused_send", json_integer((json_int_t)inside));
		json_object_set_new(j, "offset_spread_ns", json_integer(off_max - off_min));
	}
	if (viol || unrefused || found < eperm || drops) {
		fprintf(stderr, "revlat: %zu violations, %zu streams never refused, %zu drop events "
			"for %zu kernel refusals, %llu receive-queue drops\n", viol, unrefused, found,
			eperm, (unsigned long long)drops);
		ret = 1;
	}
	free(v);
	return ret;
}

static json_t *samples_json(const struct opts *o, const struct sample *sm)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < o->n; i++) {
		const struct sample *s = &sm[i];

		json_array_append_new(a, json_pack(
			"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}",
			"cli_ns", (json_int_t)(s->t_ret - s->t_inv),
			"last_arrived_ns", (json_int_t)(s->max_arrived_ts ? s->max_arrived_ts - s->t_ret : 0),
			"last_accepted_ns", (json_int_t)(s->s.last_ok_ts - s->t_ret),
			"first_refused_send_ns", (json_int_t)(s->s.nfail ? s->s.first_fail_ts - s->t_ret : 0),
			"first_refused_return_ns", (json_int_t)(s->s.nfail ? s->s.first_fail_ret - s->t_ret : 0),
			"drop_event_ns", (json_int_t)(s->drop_event_boot ? s->drop_event_boot - s->t_ret : 0),
			"received", (json_int_t)s->received,
			"refused", (json_int_t)s->s.nfail,
			"first_refusal", s->s.nfail ? errname(s->s.first_fail_err) : "none",
			"max_send_gap_ns", (json_int_t)s->s.max_gap));
	}
	return a;
}

/* --------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: revlat --bulkhead BIN --partner P --cgroup DIR --server-netns PATH\n"
		"              --addr A --port-base N --events FILE [-n N] [--interval-us U]\n"
		"              [--tail-us U] [--lead N] [--sender-cpu N] [--nice N]\n"
		"              [--label TEXT] [--json FILE]\n"
		"Run in the client network namespace, as root, with the daemon running and\n"
		"BULKHEAD_CONTROL set (see tools/revoke-latency.sh).\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "bulkhead", required_argument, NULL, 'b' },
		{ "partner", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "server-netns", required_argument, NULL, 's' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port-base", required_argument, NULL, 'P' },
		{ "events", required_argument, NULL, 'e' },
		{ "json", required_argument, NULL, 'j' },
		{ "label", required_argument, NULL, 'L' },
		{ "interval-us", required_argument, NULL, 'i' },
		{ "tail-us", required_argument, NULL, 't' },
		{ "lead", required_argument, NULL, 'l' },
		{ "nice", required_argument, NULL, 'N' },
		{ "sender-cpu", required_argument, NULL, 'c' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "n:", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o->bulkhead = optarg; break;
		case 'p': o->partner = optarg; break;
		case 'g': o->cg = optarg; break;
		case 's': o->srv_ns = optarg; break;
		case 'a': o->addr = optarg; break;
		case 'e': o->events = optarg; break;
		case 'j': o->json = optarg; break;
		case 'L': o->label = optarg; break;
		case 'P': if (parse_ulong("--port-base", optarg, 65535, &o->port_base)) return -1; break;
		case 'n': if (parse_ulong("-n", optarg, 65535, &o->n) || !o->n) return -1; break;
		case 'i': if (parse_ulong("--interval-us", optarg, 1000000, &o->interval_us)) return -1; break;
		case 't': if (parse_ulong("--tail-us", optarg, 10000000, &o->tail_us)) return -1; break;
		case 'l': if (parse_ulong("--lead", optarg, 1000000, &o->lead) || !o->lead) return -1; break;
		case 'N': o->nice = strtol(optarg, NULL, 10); break;
		case 'c': o->cpu = strtol(optarg, NULL, 10); break;
		default: return -1;
		}
	}
	if (optind != argc || !o->bulkhead || !o->partner || !o->cg || !o->srv_ns || !o->addr ||
	    !o->port_base || !o->events || o->port_base + o->n > 65536)
		return -1;
	return 0;
}

/* One revocation, i: grant, connect, probe, stream, revoke, tail, drain. */
static int one(const struct opts *o, size_t i, int sk, struct shared *sh, struct rx *x,
	       int own_ns, int srv_ns, struct sample *s)
{
	uint16_t port = (uint16_t)(o->port_base + i);
	char portbuf[16], id[128], out[8192];
	char *grant_argv[] = { (char *)o->bulkhead, "grant", (char *)o->partner, "--to",
			       (char *)o->addr, "--proto", "udp", "--ports", portbuf, "--ttl", "1h",
			       "--purpose", "revoke-latency", "--json", NULL };
	char *revoke_argv[] = { (char *)o->bulkhead, "revoke", (char *)o->partner, "--grant", id,
				NULL };
	struct stream_result r;
	struct timespec until;
	int64_t deadline, end;
	json_t *resp;
	const char *gid;
	int fd, status;

	snprintf(portbuf, sizeof(portbuf), "%u", port);
	fd = rx_socket(own_ns, srv_ns, port);
	if (fd < 0) {
		fprintf(stderr, "revlat: #%zu: receiver on port %u: %s\n", i, port, strerror(-fd));
		return -1;
	}
	rx_begin(x, fd, (uint32_t)i);

	status = run_cli(grant_argv, out, sizeof(out));
	resp = json_loads(out, 0, NULL);
	gid = json_string_value(json_object_get(json_object_get(resp, "grant"), "id"));
	if (status || !gid) {
		fprintf(stderr, "revlat: #%zu: grant exited %d: %s\n", i, status, out);
		json_decref(resp);
		return -1;
	}
	snprintf(id, sizeof(id), "%s", gid);
	json_decref(resp);

	if (sender_call(sk, 'C', (uint32_t)i, port, &r))
		return -1;
	if (!r.err && (sender_call(sk, 'P', (uint32_t)i, port, &r) || r.err || rx_wait_probe(x, 2000))) {
		fprintf(stderr, "revlat: #%zu: the granted flow to %s:%u carried nothing (%s)\n", i,
			o->addr, port, r.err ? errname(r.err) : "not received");
		return -1;
	}
	if (r.err) {
		fprintf(stderr, "revlat: #%zu: granted connect to %s:%u: %s\n", i, o->addr, port,
			errname(r.err));
		return -1;
	}

	atomic_store(&sh->stop, 0);
	atomic_store(&sh->sent, 0);
	atomic_store(&sh->refused, 0);
	if (sender_call(sk, 'S', (uint32_t)i, port, NULL))
		return -1;
	deadline = now_ns(CLOCK_MONOTONIC) + 2 * NS_PER_SEC;
	while (atomic_load(&sh->sent) < o->lead && now_ns(CLOCK_MONOTONIC) < deadline)
		sched_yield();

	s->t_inv = now_ns(CLOCK_BOOTTIME);
	status = run_cli(revoke_argv, NULL, 0);
	s->t_ret = now_ns(CLOCK_BOOTTIME);
	s->offset = clock_offset();

	/* the tail: TAIL after the return, and on until the kernel refused a
	 * datagram (a sender kept off its CPU may not have sent one yet), for
	 * 1 s at most */
	end = s->t_ret + (int64_t)o->tail_us * NS_PER_US;
	until = (struct timespec){ .tv_sec = end / NS_PER_SEC, .tv_nsec = end % NS_PER_SEC };
	while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
	end = s->t_ret + NS_PER_SEC;
	while (!atomic_load(&sh->refused) && now_ns(CLOCK_BOOTTIME) < end)
		usleep(100);
	atomic_store(&sh->stop, 1);
	if (full_io(sk, &s->s, sizeof(s->s), 0)) {
		fprintf(stderr, "revlat: the sender went away\n");
		return -1;
	}
	rx_end(x, s);
	if (sender_call(sk, 'X', (uint32_t)i, port, &r))
		return -1;
	if (status) {
		fprintf(stderr, "revlat: #%zu: revoke %s exited %d\n", i, id, status);
		return -1;
	}
	if (s->max_arrived_ts > s->t_ret)
		fprintf(stderr, "revlat: #%zu: VIOLATION: a datagram sent %.1f us after the CLI "
			"returned was received\n", i, (s->max_arrived_ts - s->t_ret) / 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .n = 1000, .interval_us = 5, .tail_us = 1000, .lead = 20,
			  .label = "", .cpu = -1 };
	struct rx x = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
			.fd = -1 };
	int sv[2] = { -1, -1 }, own_ns = -1, srv_ns = -1, ret = 1;
	struct sample *sm = NULL;
	struct shared *sh;
	size_t i, found;
	pthread_t th;
	int64_t t0;
	pid_t child = -1;

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sm = calloc(o.n, sizeof(*sm));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	own_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	srv_ns = open(o.srv_ns, O_RDONLY | O_CLOEXEC);
	if (!sm || sh == MAP_FAILED || own_ns < 0 || srv_ns < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		fprintf(stderr, "revlat: setup: %s\n", strerror(errno));
		return 1;
	}
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(sv[0]);
		sender_main(sv[1], &o, sh);
	}
	close(sv[1]);
	if (pthread_create(&th, NULL, rx_main, &x)) {
		fprintf(stderr, "revlat: cannot start the receiver thread\n");
		goto out_child;
	}

	t0 = now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < o.n; i++) {
		if (one(&o, i, sv[0], sh, &x, own_ns, srv_ns, &sm[i]))
			goto out;
		if (i + 1 == o.n || (i + 1) % 100 == 0)
			fprintf(stderr, "  %s: %zu/%lu revocations, %.1f s\n", o.label, i + 1, o.n,
				(double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	}

	/* one drop event per kernel refusal; the daemon writes each within its
	 * next batch: give it time */
	{
		int64_t until = now_ns(CLOCK_MONOTONIC) + 15 * NS_PER_SEC;
		size_t want = 0;

		for (i = 0; i < o.n; i++)
			want += sm[i].s.nfail && sm[i].s.first_fail_err == EPERM;
		while ((found = read_drops(&o, sm)) < want && now_ns(CLOCK_MONOTONIC) < until)
			usleep(200000);
	}
	{
		json_t *j = o.json ? json_object() : NULL;

		ret = report(&o, sm, found, j);
		if (j) {
			json_object_set_new(j, "label", json_string(o.label));
			json_object_set_new(j, "revocations", json_integer((json_int_t)o.n));
			json_object_set_new(j, "interval_us", json_integer((json_int_t)o.interval_us));
			json_object_set_new(j, "tail_us", json_integer((json_int_t)o.tail_us));
			json_object_set_new(j, "loop_s", json_real((double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9));
			json_object_set_new(j, "samples", samples_json(&o, sm));
			if (json_dump_file(j, o.json, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) {
				fprintf(stderr, "revlat: cannot write %s\n", o.json);
				ret = 1;
			}
			json_decref(j);
		}
	}
out:
	pthread_mutex_lock(&x.mu);
	x.quit = 1;
	pthread_cond_broadcast(&x.cv);
	pthread_mutex_unlock(&x.mu);
	pthread_join(th, NULL);
	if (x.fd >= 0)
		close(x.fd);
out_child:
	close(sv[0]);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	free(sm);
	return ret;
}
