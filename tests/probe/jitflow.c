// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * jitflow: long-lived flows and timed revocations, for the just-in-time grant
 * tests (tests/e2e/test_jit.sh) and the revoke-latency bench
 * (tools/revoke-latency.sh). Built by those scripts with
 *   cc -O2 -Wall -Wextra -o jitflow tests/probe/jitflow.c -ljansson
 *
 *   jitflow stream [-i MS] [-q] [-r] tcp|udp ADDR PORT STATE
 *       Connect (TCP, or a connected UDP socket) and send the lines "1\n",
 *       "2\n", ... every MS ms (default 20); -q sends nothing, -r reads what
 *       comes back and records the highest number seen. Before each send the
 *       line's number is stored in STATE ("issued"), so a reader that looks at
 *       STATE at instant T knows every line sent before T is <= what it read.
 *       Each line is also logged on stdout as "N REALTIME_US" (REALTIME_US
 *       taken before the send). Failed sends are counted (UDP goes on after
 *       EPERM; TCP stops at a fatal error, and so does a read side that
 *       ends: phase "ended", end_err). A UDP stream with -r first sends one
 *       datagram "0\n" (not counted), so a `talk -u` server learns where to
 *       send. Runs until SIGTERM.
 *   jitflow talk [-i MS] [-u] PORT STATE
 *       TCP server on [::]:PORT: accepts one connection and sends "s1\n",
 *       "s2\n", ... every MS ms, storing each number in STATE before the send.
 *       -u: UDP on [::]:PORT instead; the sender of the first datagram is the
 *       peer: a socket bound to the address that datagram was sent to and
 *       connected to its sender sends the same lines, one datagram each (a
 *       send the kernel refuses is counted in nerr and the next line goes on).
 *   jitflow mark STATE[,STATE...] -- CMD [ARGS...]
 *       Run CMD; the instant it has exited, read "issued" of every STATE and
 *       print one line:
 *       "mark status=S elapsed_ns=N start_us=U end_us=U issued=A[,B...]"
 *       (S: CMD's exit status, 128+signal if killed; *_us: CLOCK_REALTIME).
 *   jitflow get STATE
 *       Print STATE's fields as key=value lines.
 *   jitflow bench [options]
 *       The revoke-latency loop, see bench_usage() and tools/revoke-latency.sh.
 *
 * STATE is a small file shared through mmap; fields are written with atomic
 * stores, so "mark" reads them without any round trip to the flow process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "common.h"

#define JF_MAGIC 0x6a6974666c6f7731ull	/* "jitflow1" */

enum jf_phase { JF_STARTING, JF_CONNECTED, JF_CONNECT_FAILED, JF_ENDED };

struct jf_state {
	uint64_t magic;
	uint64_t issued;	/* number of the last line handed to send() */
	uint64_t sent;		/* number of the last line send() accepted */
	uint64_t recv_max;	/* highest number received (-r, talk: unused) */
	uint64_t recv_bytes;
	uint64_t nerr;		/* failed sends */
	uint64_t first_err_line;	/* line whose send failed first */
	int32_t first_err;	/* its errno */
	int32_t last_err;
	int32_t phase;		/* enum jf_phase */
	int32_t connect_err;
	int32_t end_err;	/* errno that ended the flow, 0 for EOF */
	int32_t eof;		/* the peer closed */
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_SEQ_CST)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_SEQ_CST)

/* Map STATE (created and zeroed when create is set). */
static struct jf_state *state_map(const char *path, int create)
{
	struct jf_state *st;
	int fd;

	fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		fprintf(stderr, "jitflow: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (create && ftruncate(fd, 4096)) {
		fprintf(stderr, "jitflow: %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	st = mmap(NULL, 4096, create ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (st == MAP_FAILED) {
		fprintf(stderr, "jitflow: mmap %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (create)
		SET(st->magic, JF_MAGIC);
	return st;
}

static int parse_addr(const char *addr, unsigned int port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	if (sockaddr_parse(addr, (unsigned short)port, 0, ss, len)) {
		fprintf(stderr, "jitflow: bad address '%s'\n", addr);
		return -1;
	}
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max) {
		fprintf(stderr, "jitflow: bad number '%s'\n", s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Numbers in received lines ("17\n", "s17\n"): remember the highest. */
struct line_scan {
	uint64_t cur;
	int have;
};

static void scan_bytes(struct line_scan *ls, const char *buf, size_t n, struct jf_state *st)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = buf[i];

		if (c >= '0' && c <= '9') {
			ls->cur = ls->cur * 10 + (uint64_t)(c - '0');
			ls->have = 1;
		} else if (c == '\n') {
			if (ls->have && ls->cur > GET(st->recv_max))
				SET(st->recv_max, ls->cur);
			ls->cur = 0;
			ls->have = 0;
		}
	}
}

/* Drain what is readable on fd into the scanner. Returns 0, or -1 at EOF or
 * on an error (recorded in st). */
static int drain(int fd, struct line_scan *ls, struct jf_state *st)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			SET(st->recv_bytes, GET(st->recv_bytes) + (uint64_t)n);
			scan_bytes(ls, buf, (size_t)n, st);
			continue;
		}
		if (n == 0) {
			SET(st->eof, 1);
			return -1;
		}
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		SET(st->end_err, errno);
		return -1;
	}
}

/* The start of stream and talk: STATE mapped fresh, SIGTERM and SIGINT
 * setting stop, SIGPIPE ignored, stdout line-buffered. NULL if STATE fails. */
static struct jf_state *flow_begin(const char *state)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct jf_state *st = state_map(state, 1);

	if (!st)
		return NULL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return st;
}

/* Wait until the absolute CLOCK_MONOTONIC instant deadline, reading fd (when
 * rd) meanwhile. Returns -1 when the read side ended. */
static int wait_reading(int fd, int rd, int64_t deadline, struct line_scan *ls,
			struct jf_state *st)
{
	while (!stop) {
		int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r;

		if (left <= 0)
			return 0;
		r = poll(rd ? &p : NULL, rd ? 1 : 0, (int)((left + 999999) / 1000000));
		if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) && drain(fd, ls, st))
			return -1;
	}
	return 0;
}

static int cmd_stream(int argc, char **argv)
{
	unsigned long interval = 20, port;
	int o, quiet = 0, rd = 0, tcp, fd, rd_ended = 0;
	struct sockaddr_storage ss;
	struct line_scan ls = {};
	struct jf_state *st;
	socklen_t len;
	uint64_t n = 0;
	int64_t next;

	optind = 1;
	while ((o = getopt(argc, argv, "+i:qr")) != -1) {
		switch (o) {
		case 'i':
			if (parse_uint(optarg, 60000, &interval) || !interval)
				return 2;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'r':
			rd = 1;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 4) {
		fprintf(stderr, "usage: jitflow stream [-i MS] [-q] [-r] tcp|udp ADDR PORT STATE\n");
		return 2;
	}
	tcp = !strcmp(argv[optind], "tcp");
	if (!tcp && strcmp(argv[optind], "udp")) {
		fprintf(stderr, "jitflow: tcp or udp, not '%s'\n", argv[optind]);
		return 2;
	}
	if (parse_uint(argv[optind + 2], 65535, &port) ||
	    parse_addr(argv[optind + 1], port, &ss, &len))
		return 2;
	st = flow_begin(argv[optind + 3]);
	if (!st)
		return 1;

	fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len)) {
		SET(st->connect_err, errno);
		SET(st->phase, JF_CONNECT_FAILED);
		printf("connect %s\n", errname(errno));
		return 1;
	}
	if (tcp) {
		int one = 1;

		/* one line, one segment: every line is a packet of its own */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (!tcp && rd && send(fd, "0\n", 2, 0) != 2) {
		SET(st->connect_err, errno);
		SET(st->phase, JF_CONNECT_FAILED);
		printf("connect (hello datagram) %s\n", errname(errno));
		return 1;
	}
	SET(st->phase, JF_CONNECTED);
	printf("connected\n");

	next = now_ns(CLOCK_MONOTONIC);
	while (!stop) {
		if (!quiet && GET(st->phase) == JF_CONNECTED) {
			char line[32];
			int l;
			ssize_t w;

			n++;
			SET(st->issued, n);
			printf("%llu %lld\n", (unsigned long long)n,
			       (long long)(now_ns(CLOCK_REALTIME) / 1000));
			l = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)n);
			w = send(fd, line, (size_t)l, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w == l) {
				SET(st->sent, n);
			} else {
				int err = w < 0 ? errno : EMSGSIZE;

				if (!GET(st->nerr)) {
					SET(st->first_err_line, n);
					SET(st->first_err, err);
				}
				SET(st->last_err, err);
				SET(st->nerr, GET(st->nerr) + 1);
				/* UDP reports each dropped datagram (EPERM) and goes
				 * on; a TCP stream that failed is over */
				if (tcp && err != EAGAIN) {
					SET(st->end_err, err);
					SET(st->phase, JF_ENDED);
				}
			}
		}
		next += (int64_t)interval * 1000000;
		if (wait_reading(fd, rd && !rd_ended, next, &ls, st)) {
			rd_ended = 1;	/* EOF or an error (end_err): the flow is over */
			SET(st->phase, JF_ENDED);
		}
	}
	close(fd);
	return 0;
}

static int listen_on(unsigned int port, int type)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0), zero = 0, one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 1024))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * talk -u: wait on the wildcard socket lfd for the first datagram, then talk
 * to its sender from the address it was sent to (a connected socket accepts
 * datagrams from its peer address only, and the server may have several).
 * Returns a socket bound to that address and PORT and connected to the
 * sender, or -1.
 */
static int udp_first_peer(int lfd, unsigned long port)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_in6 peer, local = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct iovec iov;
	struct msghdr msg = { 0 };
	struct cmsghdr *c;
	int one = 1, zero = 0, fd, found = 0;
	char b[64];

	setsockopt(lfd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	iov = (struct iovec){ .iov_base = b, .iov_len = sizeof(b) };
	msg.msg_name = &peer;
	msg.msg_namelen = sizeof(peer);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	if (recvmsg(lfd, &msg, 0) < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local.sin6_addr = pi.ipi6_addr;
			found = 1;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			local.sin6_addr.s6_addr[10] = 0xff;
			local.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&local.sin6_addr.s6_addr[12], &pi.ipi_addr, 4);
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "jitflow talk -u: no destination address for the first datagram\n");
		return -1;
	}
	close(lfd);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) ||
	    connect(fd, (struct sockaddr *)&peer, msg.msg_namelen)) {
		fprintf(stderr, "jitflow talk -u: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int cmd_talk(int argc, char **argv)
{
	unsigned long interval = 20, port;
	struct line_scan ls = {};
	struct jf_state *st;
	uint64_t n = 0;
	int64_t next;
	int o, lfd, fd, one = 1, udp = 0;

	optind = 1;
	while ((o = getopt(argc, argv, "+i:u")) != -1) {
		if (o == 'u') {
			udp = 1;
			continue;
		}
		if (o != 'i' || parse_uint(optarg, 60000, &interval) || !interval)
			return 2;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: jitflow talk [-i MS] [-u] PORT STATE\n");
		return 2;
	}
	if (parse_uint(argv[optind], 65535, &port))
		return 2;
	st = flow_begin(argv[optind + 1]);
	if (!st)
		return 1;
	lfd = listen_on(port, udp ? SOCK_DGRAM : SOCK_STREAM);
	if (lfd < 0) {
		fprintf(stderr, "jitflow talk: port %lu: %s\n", port, strerror(-lfd));
		return 1;
	}
	printf("listening\n");
	if (udp) {
		fd = udp_first_peer(lfd, port);
		if (fd < 0)
			return stop ? 0 : 1;
	} else {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return stop ? 0 : 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	SET(st->phase, JF_CONNECTED);
	printf("accepted\n");
	next = now_ns(CLOCK_MONOTONIC);
	while (!stop && GET(st->phase) == JF_CONNECTED) {
		char line[32];
		int l = snprintf(line, sizeof(line), "s%llu\n", (unsigned long long)(n + 1));
		ssize_t w;

		SET(st->issued, n + 1);
		w = send(fd, line, (size_t)l, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w == l) {
			SET(st->sent, ++n);
		} else if (udp) {
			SET(st->nerr, GET(st->nerr) + 1);	/* refused: the next line */
			SET(st->last_err, w < 0 ? errno : EMSGSIZE);
			n++;
		} else if (w < 0 && errno != EAGAIN) {
			SET(st->end_err, errno);
			SET(st->phase, JF_ENDED);
		} else {
			SET(st->nerr, GET(st->nerr) + 1);	/* buffer full: same line again */
		}
		next += (int64_t)interval * 1000000;
		if (wait_reading(fd, 1, next, &ls, st))
			SET(st->phase, JF_ENDED);
	}
	return 0;
}

/* Run argv; return its exit status (128 + signal when killed, 127 when it
 * could not be started). out_fd, when >= 0, becomes its stdout. */
static int run_cmd(char **argv, int out_fd)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 127;
	if (pid == 0) {
		if (out_fd >= 0)
			dup2(out_fd, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "jitflow: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

#define MAX_STATES 8

static int cmd_mark(int argc, char **argv)
{
	struct jf_state *st[MAX_STATES];
	uint64_t issued[MAX_STATES];
	int64_t t0, t1, r0, r1;
	char *list, *tok, *save = NULL;
	int ns = 0, i, status;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: jitflow mark STATE[,STATE...] -- CMD [ARGS...]\n");
		return 2;
	}
	list = strdup(argv[1]);
	for (tok = strtok_r(list, ",", &save); tok && ns < MAX_STATES;
	     tok = strtok_r(NULL, ",", &save)) {
		st[ns] = state_map(tok, 0);
		if (!st[ns])
			return 2;
		ns++;
	}
	free(list);
	fflush(stdout);
	r0 = now_ns(CLOCK_REALTIME);
	t0 = now_ns(CLOCK_MONOTONIC);
	status = run_cmd(argv + 3, -1);
	for (i = 0; i < ns; i++)
		issued[i] = GET(st[i]->issued);
	t1 = now_ns(CLOCK_MONOTONIC);
	r1 = now_ns(CLOCK_REALTIME);
	printf("mark status=%d elapsed_ns=%lld start_us=%lld end_us=%lld issued=", status,
	       (long long)(t1 - t0), (long long)(r0 / 1000), (long long)(r1 / 1000));
	for (i = 0; i < ns; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)issued[i]);
	printf("\n");
	return 0;
}

static int cmd_get(int argc, char **argv)
{
	struct jf_state *st;
	static const char *const phases[] = { "starting", "connected", "connect_failed",
					      "ended" };
	int32_t ph, e;

	if (argc != 2) {
		fprintf(stderr, "usage: jitflow get STATE\n");
		return 2;
	}
	st = state_map(argv[1], 0);
	if (!st)
		return 1;
	if (GET(st->magic) != JF_MAGIC) {
		fprintf(stderr, "jitflow: %s: not initialised yet\n", argv[1]);
		return 1;
	}
	ph = GET(st->phase);
	printf("phase=%s\n", ph >= 0 && ph <= JF_ENDED ? phases[ph] : "?");
	printf("issued=%llu\n", (unsigned long long)GET(st->issued));
	printf("sent=%llu\n", (unsigned long long)GET(st->sent));
	printf("recv_max=%llu\n", (unsigned long long)GET(st->recv_max));
	printf("recv_bytes=%llu\n", (unsigned long long)GET(st->recv_bytes));
	printf("nerr=%llu\n", (unsigned long long)GET(st->nerr));
	printf("first_err_line=%llu\n", (unsigned long long)GET(st->first_err_line));
	e = GET(st->first_err);
	printf("first_err=%s\n", e ? errname(e) : "none");
	e = GET(st->last_err);
	printf("last_err=%s\n", e ? errname(e) : "none");
	e = GET(st->connect_err);
	printf("connect_err=%s\n", e ? errname(e) : "none");
	e = GET(st->end_err);
	printf("end_err=%s\n", e ? errname(e) : "none");
	printf("eof=%d\n", (int)GET(st->eof));
	return 0;
}

/* ------------------------------------------------------------------ bench */

/*
 * The parent runs in the client network namespace (the script starts it with
 * nsenter) and does the server side in the server namespace (sockets keep the
 * namespace they were created in, so it enters it just to create them). A
 * forked child moves itself into the partner cgroup and owns the client
 * sockets; the two talk over a socketpair. Per iteration i (port BASE+i, so
 * each flow has its own deny-aggregation key and its own first-drop event):
 *
 *   grant (CLI) -> child connects, sends 'a', waits until it is acked ->
 *   server reads 'a' -> time `bulkhead revoke --grant ID` (fork to waitpid,
 *   CLOCK_MONOTONIC) -> child sends 'b' at once -> the server must never see
 *   it (checked after 5 ms, and again for every flow at the end).
 */
struct bench_opts {
	const char *bulkhead, *partner, *addr, *cg, *srv_ns, *events, *out_json, *mode;
	unsigned long n, port_base;
};

struct child_req {
	char op;		/* 'C' connect, 'A' send 'a' and wait for its ack, 'S' send 'b' */
	uint32_t i;
	uint16_t port;
};

struct child_resp {
	int32_t err;
	int64_t t_us;		/* CLOCK_REALTIME right before the send */
};

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

static void bench_child(int sk, const struct bench_opts *o, int *fds)
{
	char path[PATH_MAX];
	struct child_req q;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", o->cg);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
		fprintf(stderr, "jitflow bench: cannot join %s: %s\n", o->cg, strerror(errno));
		_exit(1);
	}
	while (full_io(sk, &q, sizeof(q), 0) == 0) {
		struct child_resp r = {};
		struct sockaddr_storage ss;
		socklen_t len;

		if (q.i >= o->n) {
			r.err = EINVAL;
		} else if (q.op == 'C') {
			int fd, one = 1;

			if (parse_addr(o->addr, q.port, &ss, &len))
				_exit(1);
			fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len)) {
				r.err = errno;
				if (fd >= 0)
					close(fd);
			} else {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				fds[q.i] = fd;
			}
		} else if (q.op == 'A') {
			int64_t deadline = now_ns(CLOCK_MONOTONIC) + 2000000000;
			int outq = 1;

			if (send(fds[q.i], "a", 1, MSG_NOSIGNAL) != 1)
				r.err = errno;
			/* quiescent flow: nothing in flight when revoke runs */
			while (!r.err && now_ns(CLOCK_MONOTONIC) < deadline) {
				if (ioctl(fds[q.i], SIOCOUTQ, &outq)) {
					r.err = errno;
					break;
				}
				if (!outq)
					break;
				usleep(100);
			}
			if (!r.err && outq)
				r.err = ETIMEDOUT;
		} else if (q.op == 'S') {
			r.t_us = now_ns(CLOCK_REALTIME) / 1000;
			if (send(fds[q.i], "b", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
				r.err = errno;
		} else {
			r.err = EINVAL;
		}
		if (full_io(sk, &r, sizeof(r), 1))
			break;
	}
	_exit(0);
}

static int child_call(int sk, char op, uint32_t i, uint16_t port, struct child_resp *r)
{
	struct child_req q = { .op = op, .i = i, .port = port };

	if (full_io(sk, &q, sizeof(q), 1) || full_io(sk, r, sizeof(*r), 0)) {
		fprintf(stderr, "jitflow bench: the client process went away\n");
		return -1;
	}
	return 0;
}

/* Run CMD with stdout captured (at most cap-1 bytes). Returns its status. */
static int run_capture(char **argv, char *out, size_t cap)
{
	int p[2], status;
	size_t n = 0;
	ssize_t r;

	if (pipe2(p, O_CLOEXEC))
		return 127;
	fflush(stdout);
	pid_t pid = fork();

	if (pid < 0)
		return 127;
	if (pid == 0) {
		dup2(p[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + n, cap - 1 - n)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	int64_t min, median, p99, max;
	double mean;
	size_t n;
};

/* Median (mean of the two middle values for an even count), p99 by nearest
 * rank, over v[0..n) (sorted in place). */
static struct stats stats_of(int64_t *v, size_t n)
{
	struct stats s = { .n = n };
	double sum = 0;
	size_t i, rank;

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_i64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	s.mean = sum / (double)n;
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	rank = (99 * n + 99) / 100;	/* ceil(0.99 n) */
	s.p99 = v[rank ? rank - 1 : 0];
	return s;
}

static json_t *stats_json(const struct stats *s, const char *unit)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "unit", unit, "n", (json_int_t)s->n,
			 "min", (json_int_t)s->min, "median", (json_int_t)s->median, "p99",
			 (json_int_t)s->p99, "max", (json_int_t)s->max, "mean", s->mean);
}

/* "2026-11-23T11:20:31.123456Z" -> µs since the epoch; -1 if malformed. */
static int64_t ts_us(const char *s)
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
	return (int64_t)timegm(&tm) * 1000000 + us;
}

/* First egress drop (type packet, deny, revoked) per port from the partner's
 * event file. Returns how many of the n flows have one. */
static size_t read_drops(const struct bench_opts *o, int64_t *drop_us, char *hooks)
{
	FILE *f = fopen(o->events, "r");
	char *line = NULL;
	size_t cap = 0, found = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *e = json_loads(line, 0, NULL);
		const char *type, *reason, *hook, *ts;
		json_int_t port;
		int64_t t;
		size_t i;

		if (!e)
			continue;
		type = json_string_value(json_object_get(e, "type"));
		reason = json_string_value(json_object_get(e, "reason"));
		hook = json_string_value(json_object_get(e, "hook"));
		ts = json_string_value(json_object_get(e, "ts"));
		port = json_integer_value(json_object_get(e, "dport"));
		if (type && reason && ts && hook && !strcmp(type, "packet") &&
		    !strcmp(reason, "revoked") && !json_is_true(json_object_get(e, "aggregated")) &&
		    port >= (json_int_t)o->port_base && port < (json_int_t)(o->port_base + o->n)) {
			i = (size_t)(port - (json_int_t)o->port_base);
			t = ts_us(ts);
			if (t >= 0 && (drop_us[i] < 0 || t < drop_us[i])) {
				if (drop_us[i] < 0)
					found++;
				drop_us[i] = t;
				hooks[i] = hook[0];
			}
		}
		json_decref(e);
	}
	free(line);
	fclose(f);
	return found;
}

static void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: jitflow bench --bulkhead BIN --partner P --cgroup DIR --server-netns PATH\n"
		"                     --addr A --port-base N --events FILE [-n N] [--json FILE]\n"
		"                     [--mode TEXT]  (how the daemon runs, for the record)\n"
		"Run in the client network namespace, as root, with the daemon running and\n"
		"BULKHEAD_CONTROL set. Prints a table; --json writes the figures.\n");
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bulkhead", required_argument, NULL, 'b' },
		{ "partner", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "server-netns", required_argument, NULL, 's' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port-base", required_argument, NULL, 'P' },
		{ "events", required_argument, NULL, 'e' },
		{ "json", required_argument, NULL, 'j' },
		{ "mode", required_argument, NULL, 'm' },
		{ 0 }
	};
	struct bench_opts o = { .n = 1000, .mode = "" };
	struct rlimit rl = { 8192, 8192 };
	int sv[2], own_ns = -1, srv_ns = -1, c, status, ret = 1;
	int *lfd = NULL, *sfd = NULL, *cfds = NULL;
	int64_t *cli_ns = NULL, *ret_us = NULL, *drop_us = NULL, *lat = NULL, t_begin;
	size_t i, nviol = 0, nlate_viol = 0, found = 0, nlat = 0, ningress = 0, nneg = 0;
	size_t nsend_err = 0;
	int first_send_err = 0;
	char *hooks = NULL, out[8192], id[128], portbuf[16];
	pid_t child;
	struct stats cli, drop;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (c) {
		case 'b': o.bulkhead = optarg; break;
		case 'p': o.partner = optarg; break;
		case 'g': o.cg = optarg; break;
		case 's': o.srv_ns = optarg; break;
		case 'a': o.addr = optarg; break;
		case 'e': o.events = optarg; break;
		case 'j': o.out_json = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'P':
			if (parse_uint(optarg, 65535, &o.port_base))
				return 2;
			break;
		case 'n':
			if (parse_uint(optarg, 100000, &o.n) || !o.n)
				return 2;
			break;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (!o.bulkhead || !o.partner || !o.cg || !o.srv_ns || !o.addr || !o.port_base ||
	    !o.events || o.port_base + o.n > 65536) {
		bench_usage(stderr);
		return 2;
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGPIPE, SIG_IGN);
	lfd = calloc(o.n, sizeof(*lfd));
	sfd = calloc(o.n, sizeof(*sfd));
	cfds = calloc(o.n, sizeof(*cfds));
	cli_ns = calloc(o.n, sizeof(*cli_ns));
	ret_us = calloc(o.n, sizeof(*ret_us));
	drop_us = calloc(o.n, sizeof(*drop_us));
	lat = calloc(o.n, sizeof(*lat));
	hooks = calloc(o.n, 1);
	if (!lfd || !sfd || !cfds || !cli_ns || !ret_us || !drop_us || !lat || !hooks)
		return 1;
	for (i = 0; i < o.n; i++) {
		lfd[i] = sfd[i] = -1;
		drop_us[i] = -1;
	}

	/* the server side: every listener, created inside the server namespace */
	own_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	srv_ns = open(o.srv_ns, O_RDONLY | O_CLOEXEC);
	if (own_ns < 0 || srv_ns < 0 || setns(srv_ns, CLONE_NEWNET)) {
		fprintf(stderr, "jitflow bench: cannot enter %s: %s\n", o.srv_ns, strerror(errno));
		return 1;
	}
	for (i = 0; i < o.n; i++) {
		lfd[i] = listen_on((unsigned int)(o.port_base + i), SOCK_STREAM);
		if (lfd[i] < 0) {
			fprintf(stderr, "jitflow bench: listen on port %lu: %s\n", o.port_base + i,
				strerror(-lfd[i]));
			return 1;
		}
	}
	if (setns(own_ns, CLONE_NEWNET)) {
		fprintf(stderr, "jitflow bench: cannot return to the client namespace: %s\n",
			strerror(errno));
		return 1;
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		close(sv[0]);
		for (i = 0; i < o.n; i++)
			close(lfd[i]);
		for (i = 0; i < o.n; i++)
			cfds[i] = -1;
		bench_child(sv[1], &o, cfds);
	}
	close(sv[1]);

	t_begin = now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < o.n; i++) {
		uint16_t port = (uint16_t)(o.port_base + i);
		char *grant_argv[] = { (char *)o.bulkhead, "grant", (char *)o.partner, "--to",
				       (char *)o.addr, "--proto", "tcp", "--ports", portbuf,
				       "--ttl", "1h", "--purpose", "revoke-latency", "--json", NULL };
		char *revoke_argv[] = { (char *)o.bulkhead, "revoke", (char *)o.partner, "--grant",
					id, NULL };
		struct child_resp r;
		struct pollfd p;
		json_t *resp;
		const char *gid;
		int64_t t0, t1;
		char byte;
		int devnull;

		snprintf(portbuf, sizeof(portbuf), "%u", port);
		status = run_capture(grant_argv, out, sizeof(out));
		resp = json_loads(out, 0, NULL);
		gid = json_string_value(json_object_get(json_object_get(resp, "grant"), "id"));
		if (status || !gid) {
			fprintf(stderr, "jitflow bench: #%zu: grant exited %d: %s\n", i, status, out);
			json_decref(resp);
			goto out;
		}
		snprintf(id, sizeof(id), "%s", gid);
		json_decref(resp);

		if (child_call(sv[0], 'C', (uint32_t)i, port, &r))
			goto out;
		if (r.err) {
			fprintf(stderr, "jitflow bench: #%zu: granted connect to %s:%u: %s\n", i,
				o.addr, port, errname(r.err));
			goto out;
		}
		p = (struct pollfd){ .fd = lfd[i], .events = POLLIN };
		if (poll(&p, 1, 2000) != 1 || (sfd[i] = accept4(lfd[i], NULL, NULL,
								 SOCK_CLOEXEC)) < 0) {
			fprintf(stderr, "jitflow bench: #%zu: no connection on the server\n", i);
			goto out;
		}
		close(lfd[i]);
		lfd[i] = -1;
		if (child_call(sv[0], 'A', (uint32_t)i, port, &r))
			goto out;
		p = (struct pollfd){ .fd = sfd[i], .events = POLLIN };
		if (r.err || poll(&p, 1, 2000) != 1 || recv(sfd[i], &byte, 1, 0) != 1 ||
		    byte != 'a') {
			fprintf(stderr, "jitflow bench: #%zu: the granted flow did not carry 'a' (%s)\n",
				i, r.err ? errname(r.err) : "not received");
			goto out;
		}

		/* the measurement: fork+exec+daemon round trip+exit of the CLI */
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		fflush(stdout);
		t0 = now_ns(CLOCK_MONOTONIC);
		status = run_cmd(revoke_argv, devnull);
		t1 = now_ns(CLOCK_MONOTONIC);
		ret_us[i] = now_ns(CLOCK_REALTIME) / 1000;
		close(devnull);
		if (child_call(sv[0], 'S', (uint32_t)i, port, &r))
			goto out;
		cli_ns[i] = t1 - t0;
		if (status) {
			fprintf(stderr, "jitflow bench: #%zu: revoke %s exited %d\n", i, id, status);
			goto out;
		}
		if (r.err && !nsend_err++)	/* TCP queues it, unless the socket is gone */
			first_send_err = r.err;
		p = (struct pollfd){ .fd = sfd[i], .events = POLLIN };
		if (poll(&p, 1, 5) > 0 && recv(sfd[i], &byte, 1, MSG_DONTWAIT) == 1) {
			nviol++;
			fprintf(stderr, "jitflow bench: #%zu: VIOLATION: the server received '%c' "
				"sent after revoke returned\n", i, byte);
		}
		if (i + 1 == o.n || (i + 1) % 100 == 0)
			fprintf(stderr, "  %zu/%lu revocations, %.1f s\n", i + 1, o.n,
				(double)(now_ns(CLOCK_MONOTONIC) - t_begin) / 1e9);
	}

	/* retransmissions of every 'b' had time too: none may have got through */
	{
		int64_t until = now_ns(CLOCK_MONOTONIC) + 1500000000;

		while (now_ns(CLOCK_MONOTONIC) < until)
			usleep(50000);
	}
	for (i = 0; i < o.n; i++) {
		char buf[16];
		ssize_t r = recv(sfd[i], buf, sizeof(buf), MSG_DONTWAIT);

		if (r > 0) {
			nlate_viol++;
			fprintf(stderr, "jitflow bench: #%zu: VIOLATION: %zd bytes arrived later\n", i,
				r);
		}
	}

	/* the kernel's first drop of each flow, from the event log */
	{
		int64_t until = now_ns(CLOCK_MONOTONIC) + 15000000000;

		while ((found = read_drops(&o, drop_us, hooks)) < o.n &&
		       now_ns(CLOCK_MONOTONIC) < until)
			usleep(200000);
	}
	for (i = 0; i < o.n; i++) {
		if (drop_us[i] < 0)
			continue;
		lat[nlat++] = drop_us[i] - ret_us[i];
		ningress += hooks[i] == 'i';
		nneg += drop_us[i] < ret_us[i];
	}
	cli = stats_of(cli_ns, o.n);
	drop = stats_of(lat, nlat);

	printf("\nrevoke latency over %lu revocations (partner %s, established TCP flows to %s%s%s)"
	       "\n\n", o.n, o.partner, o.addr, *o.mode ? ", daemon " : "", o.mode);
	printf("  %-44s %10s %10s %10s %10s\n", "", "min", "median", "p99", "max");
	printf("  %-44s %7.3f ms %7.3f ms %7.3f ms %7.3f ms\n",
	       "`bulkhead revoke` invocation -> return", cli.min / 1e6, cli.median / 1e6,
	       cli.p99 / 1e6, cli.max / 1e6);
	printf("  %-44s %7lld us %7lld us %7lld us %7lld us\n",
	       "revoke returned -> first packet dropped", (long long)drop.min,
	       (long long)drop.median, (long long)drop.p99, (long long)drop.max);
	printf("\n  first-drop events found: %zu of %lu (egress %zu, ingress %zu); dropped before "
	       "return: %zu\n", found, o.n, found - ningress, ningress, nneg);
	printf("  sends after the return that failed (socket already destroyed): %zu%s%s\n",
	       nsend_err, nsend_err ? ", " : "", nsend_err ? errname(first_send_err) : "");
	printf("  violations (a byte sent after revoke returned reached the server): %zu "
	       "(at once) + %zu (after 1.5 s)\n", nviol, nlate_viol);
	printf("  wall time of the loop: %.1f s\n\n",
	       (double)(now_ns(CLOCK_MONOTONIC) - t_begin) / 1e9);

	if (o.out_json) {
		json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I}, "
				      "s:I, s:I, s:I}",
				      "bench", "revoke-latency", "revocations", (json_int_t)o.n,
				      "partner", o.partner, "destination", o.addr, "daemon", o.mode,
				      "cli_return", stats_json(&cli, "ns"),
				      "return_to_first_drop", stats_json(&drop, "us"),
				      "first_drop_events", "found", (json_int_t)found, "egress",
				      (json_int_t)(found - ningress), "ingress", (json_int_t)ningress,
				      "before_return", (json_int_t)nneg,
				      "send_errors_after_return", (json_int_t)nsend_err,
				      "violations", (json_int_t)(nviol + nlate_viol),
				      "loop_wall_ms",
				      (json_int_t)((now_ns(CLOCK_MONOTONIC) - t_begin) / 1000000));

		json_object_set_new(j, "method", json_string(
			"cli_return: CLOCK_MONOTONIC from fork() of `bulkhead revoke --grant ID` to "
			"waitpid() returning, exit status 0 required. return_to_first_drop: the ts of "
			"the first packet event with reason revoked of that flow (kernel "
			"CLOCK_BOOTTIME converted to wall clock by the daemon) minus CLOCK_REALTIME "
			"taken right after waitpid(); the client sends one byte right after the "
			"return. violations: that byte (or a retransmission) reaching the server."));
		if (!j || json_dump_file(j, o.out_json, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
			fprintf(stderr, "jitflow bench: cannot write %s\n", o.out_json);
			json_decref(j);
			goto out;
		}
		json_decref(j);
	}
	ret = (nviol + nlate_viol || found < o.n) ? 1 : 0;
	if (found < o.n)
		fprintf(stderr, "jitflow bench: %lu flows have no revoked drop event\n",
			o.n - found);
out:
	close(sv[0]);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	for (i = 0; i < o.n; i++) {
		if (lfd[i] >= 0)
			close(lfd[i]);
		if (sfd[i] >= 0)
			close(sfd[i]);
	}
	free(lfd);
	free(sfd);
	free(cfds);
	free(cli_ns);
	free(ret_us);
	free(drop_us);
	free(lat);
	free(hooks);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "stream"))
		return cmd_stream(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "talk"))
		return cmd_talk(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "mark"))
		return cmd_mark(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "get"))
		return cmd_get(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "usage: jitflow stream|talk|mark|get|bench ... (see the source)\n");
	return 2;
}
