// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * jitflow: long-lived flows and timed revocations, for the just-in-time grant
 * tests (tests/e2e/test_jit.sh). Built there with
 *   cc -O2 -Wall -Wextra -o jitflow tests/probe/jitflow.c
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	fprintf(stderr, "usage: jitflow stream|talk|mark|get ... (see the source)\n");
	return 2;
}
