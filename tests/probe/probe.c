// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * probe: one socket operation, one word on stdout.
 *
 * The end-to-end tests run it inside a partner cgroup wherever the exact errno
 * matters. It prints "ok" and exits 0, or prints the errno name (EPERM,
 * ECONNREFUSED, ETIMEDOUT, ...) and exits 1. Usage errors exit 2. Details,
 * when any, go to stderr.
 *
 * The address family follows the address literal (a.b.c.d is AF_INET, anything
 * with a ':' is AF_INET6), except tcp6-connect, which always uses AF_INET6 and
 * maps an IPv4 literal to ::ffff:a.b.c.d. Connects and ICMP replies wait at
 * most the timeout (-t MS, default 2000), so a silently dropped packet shows
 * up as ETIMEDOUT instead of a hang.
 *
 * raw-send needs root (CAP_NET_RAW): it builds the UDP header or the ICMP
 * echo itself on a SOCK_RAW socket, so the only bulkhead hook that sees it is
 * cgroup_skb/egress. tcp-fastopen needs net.ipv4.tcp_fastopen with the client
 * bit (1) in the caller's network namespace.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_PAYLOAD "bulkhead-probe\n"

static int timeout_ms = 2000;

struct target {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: probe [-t MS] COMMAND ARGS\n"
		"  tcp-connect ADDR PORT [PAYLOAD]   connect (and send PAYLOAD, read until EOF)\n"
		"  tcp6-connect ADDR PORT [PAYLOAD]  same on an AF_INET6 socket; a.b.c.d becomes ::ffff:a.b.c.d\n"
		"  udp-sendto ADDR PORT [PAYLOAD]    sendto() on an unconnected socket\n"
		"  udp-connect-send ADDR PORT [PAYLOAD]  connect() then send()\n"
		"  ping ADDR                         one echo over an unprivileged ICMP/ICMPv6 socket\n"
		"  connect-loop ADDR PORT N          N sequential TCP connects; prints the common result\n"
		"  udp-hold ADDR PORT N SIZE         connect() a UDP socket, send N datagrams of SIZE\n"
		"                                    bytes, print the result, then keep the socket open\n"
		"                                    (idle) until killed\n"
		"  raw-send udp ADDR PORT [PAYLOAD]  one UDP datagram built by hand on a SOCK_RAW\n"
		"                                    IPPROTO_UDP socket (root); ok = sendto() took it\n"
		"  raw-send icmp ADDR                one echo request on a SOCK_RAW IPPROTO_ICMP/ICMPV6\n"
		"                                    socket (root); ok = the echo reply came back\n"
		"  tcp-fastopen ADDR PORT PAYLOAD    sendto(MSG_FASTOPEN) of PAYLOAD on a fresh TCP\n"
		"                                    socket (no connect()), then read until EOF\n"
		"prints 'ok' (exit 0) or the errno name (exit 1); -t sets the wait in ms (default 2000)\n");
}

/* Print the outcome of the command and return the exit status. */
static int report(int err)
{
	if (err == 0) {
		puts("ok");
		return 0;
	}
	puts(errname(err));
	return 1;
}

static int parse_port(const char *s, unsigned short *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 65535)
		return -1;
	*port = (unsigned short)v;
	return 0;
}

/* Parse ADDR and PORT into t; force6 maps an IPv4 literal into AF_INET6. */
static int parse_target(const char *addr, const char *port, int force6, struct target *t)
{
	unsigned short p = 0;

	if (port && parse_port(port, &p)) {
		fprintf(stderr, "probe: bad port '%s'\n", port);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	if (sockaddr_parse(addr, p, force6, &t->ss, &t->len)) {
		fprintf(stderr, "probe: bad address '%s'\n", addr);
		return -1;
	}
	t->family = t->ss.ss_family;
	return 0;
}

/* Wait for events on fd; returns 0, ETIMEDOUT or an errno. */
static int wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	if (r == 0)
		return ETIMEDOUT;
	return 0;
}

/* After a send or recv on non-blocking fd failed: 0 to try again (EINTR, or
 * EAGAIN and fd became ready for events within the timeout), else the errno. */
static int retry_wait(int fd, short events)
{
	if (errno == EINTR)
		return 0;
	if (errno == EAGAIN)
		return wait_fd(fd, events);
	return errno;
}

/* Non-blocking connect bounded by the timeout; returns 0 or an errno. */
static int connect_timeout(int fd, const struct target *t)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, (const struct sockaddr *)&t->ss, t->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	err = wait_fd(fd, POLLOUT);
	if (err)
		return err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Send all of buf on a connected non-blocking stream; returns 0 or an errno. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			int err = retry_wait(fd, POLLOUT);

			if (err)
				return err;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Half-close and read until the peer closes; returns 0 or an errno. */
static int drain(int fd)
{
	char buf[4096];

	if (shutdown(fd, SHUT_WR) < 0)
		return errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		int err;

		if (n == 0)
			return 0;
		if (n < 0 && (err = retry_wait(fd, POLLIN)))
			return err;
	}
}

static int tcp_connect(const struct target *t, const char *payload)
{
	int fd, err;

	fd = socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	err = connect_timeout(fd, t);
	if (!err && payload) {
		err = send_all(fd, payload, strlen(payload));
		if (!err)
			err = drain(fd);
	}
	close(fd);
	return err;
}

static int udp_send(const struct target *t, const char *payload, int connected)
{
	size_t len = strlen(payload);
	ssize_t n;
	int fd, err = 0;

	fd = socket(t->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connected) {
		if (connect(fd, (const struct sockaddr *)&t->ss, t->len) < 0)
			err = errno;
		else if ((n = send(fd, payload, len, 0)) < 0)
			err = errno;
	} else {
		n = sendto(fd, payload, len, 0, (const struct sockaddr *)&t->ss, t->len);
		if (n < 0)
			err = errno;
	}
	close(fd);
	return err;
}

/*
 * Wait, within the timeout, for an ICMP (v6: ICMPv6) echo reply on fd,
 * skipping anything else; with id >= 0 only a reply with that echo id. iphdr:
 * the socket receives the IPv4 header too (raw sockets). Returns 0,
 * ETIMEDOUT or an errno.
 */
static int wait_echo_reply(int fd, int v6, int iphdr, int id)
{
	unsigned char reply[1500];
	struct timespec start, now;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		const unsigned char *icmp = reply;
		long left;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r ? errno : ETIMEDOUT;
		n = recv(fd, reply, sizeof(reply), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno;
		}
		if (iphdr) {
			size_t ihl = (size_t)(reply[0] & 0x0f) * 4;

			if ((size_t)n < ihl + 8)
				continue;
			icmp = reply + ihl;
			n -= (ssize_t)ihl;
		}
		if (n >= 8 && icmp[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) &&
		    (id < 0 || (icmp[4] == ((unsigned)id >> 8) && icmp[5] == (id & 0xff))))
			return 0;
	}
}

static int ping(const struct target *t)
{
	int v6 = t->family == AF_INET6;
	unsigned char pkt[64];
	const char *data = "bulkhead-ping";
	int fd, err = 0;
	ssize_t n;

	fd = socket(t->family, SOCK_DGRAM | SOCK_CLOEXEC,
		    v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	if (fd < 0)
		return errno;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;	/* type; code 0 */
	pkt[7] = 1;					/* sequence 1 (id set by kernel) */
	memcpy(pkt + 8, data, strlen(data));
	n = sendto(fd, pkt, 8 + strlen(data), 0, (const struct sockaddr *)&t->ss, t->len);
	if (n < 0) {
		err = errno;
		goto out;
	}

	/* the echo reply, skipping anything else, within the timeout */
	err = wait_echo_reply(fd, v6, 0, -1);
out:
	close(fd);
	return err;
}

/* The Internet checksum of len bytes (RFC 1071), for the IPv4 ICMP echo. */
static unsigned short inet_csum(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	unsigned long sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (unsigned long)(p[0] << 8 | p[1]);
	if (len)
		sum += (unsigned long)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((unsigned short)~sum);
}

/*
 * raw-send udp: a UDP header and payload on a SOCK_RAW IPPROTO_UDP socket
 * (the kernel adds the IP header; for IPv6 it also fills in the checksum,
 * IPV6_CHECKSUM). Returns sendto()'s errno, 0 when it took the datagram.
 */
static int raw_udp(const struct target *t, const char *payload)
{
	unsigned char pkt[1500];
	size_t plen = strlen(payload), len = sizeof(struct udphdr) + plen;
	struct udphdr *uh = (struct udphdr *)pkt;
	struct sockaddr_storage ss = t->ss;
	int fd, err = 0, off = 6;

	if (len > sizeof(pkt))
		return EMSGSIZE;
	fd = socket(t->family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return errno;
	if (t->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off)) < 0) {
		err = errno;
		goto out;
	}
	memset(pkt, 0, sizeof(struct udphdr));
	uh->uh_sport = htons(40000);
	uh->uh_dport = t->family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port;
	uh->uh_ulen = htons((unsigned short)len);
	uh->uh_sum = 0;		/* IPv4: no checksum; IPv6: the kernel's */
	memcpy(pkt + sizeof(struct udphdr), payload, plen);
	/* the port of a raw socket's address is the protocol, not a port */
	if (t->family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	else
		((struct sockaddr_in *)&ss)->sin_port = 0;
	if (sendto(fd, pkt, len, 0, (const struct sockaddr *)&ss, t->len) < 0)
		err = errno;
out:
	close(fd);
	return err;
}

/*
 * raw-send icmp: an echo request with this process's id on a SOCK_RAW
 * IPPROTO_ICMP (IPPROTO_ICMPV6) socket, then wait for the matching echo
 * reply. Returns sendto()'s errno, ETIMEDOUT when no reply came, or 0.
 */
static int raw_icmp(const struct target *t)
{
	int v6 = t->family == AF_INET6, fd, err = 0;
	unsigned short id = (unsigned short)getpid();
	const char *data = "bulkhead-raw";
	unsigned char pkt[64];
	size_t len = 8 + strlen(data);

	fd = socket(t->family, SOCK_RAW | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	if (fd < 0)
		return errno;
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	memcpy(pkt + 4, &(unsigned short){ htons(id) }, 2);
	pkt[7] = 1;
	memcpy(pkt + 8, data, strlen(data));
	if (!v6) {	/* ICMPv6: the kernel computes the checksum of raw sockets */
		unsigned short sum = inet_csum(pkt, len);

		memcpy(pkt + 2, &sum, 2);
	}
	if (sendto(fd, pkt, len, 0, (const struct sockaddr *)&t->ss, t->len) < 0) {
		err = errno;
		goto out;
	}
	err = wait_echo_reply(fd, v6, !v6, id);
out:
	close(fd);
	return err;
}

/*
 * tcp-fastopen: sendto(MSG_FASTOPEN) on a fresh non-blocking TCP socket: the
 * connect happens inside sendto (cgroup/connect4|6 runs there), the payload
 * rides the SYN when the namespace allows it (tcp_fastopen bit 0x4) or
 * follows the handshake. Then what did not go yet is sent and the reply read
 * until EOF. Returns sendto()'s errno, a later one, or 0.
 */
static int tcp_fastopen(const struct target *t, const char *payload)
{
	size_t len = strlen(payload);
	socklen_t elen = sizeof(int);
	int fd, err = 0;
	ssize_t n;

	fd = socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	n = sendto(fd, payload, len, MSG_FASTOPEN | MSG_NOSIGNAL,
		   (const struct sockaddr *)&t->ss, t->len);
	if (n < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto out;
		}
		n = 0;		/* queued nothing: the handshake is under way */
	}
	err = wait_fd(fd, POLLOUT);
	if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (!err)
		err = send_all(fd, payload + n, len - (size_t)n);
	if (!err)
		err = drain(fd);
out:
	close(fd);
	return err;
}

static int connect_loop(const struct target *t, long count)
{
	int first = -1, mixed = 0, other = 0;
	long nok = 0, nfirst_err = 0, nother = 0;

	for (long i = 0; i < count; i++) {
		int err = tcp_connect(t, NULL);

		if (!err)
			nok++;
		if (first < 0)
			first = err;
		if (err && err == first)
			nfirst_err++;
		else if (err) {
			other = err;
			nother++;
		}
		if (err != first)
			mixed = 1;
	}
	fprintf(stderr, "probe: connect-loop %ld attempts: %ld ok", count, nok);
	if (nfirst_err)
		fprintf(stderr, ", %ld %s", nfirst_err, errname(first));
	if (nother)
		fprintf(stderr, ", %ld other errors (last %s)", nother, errname(other));
	fputc('\n', stderr);
	if (mixed) {
		puts("MIXED");
		return 1;
	}
	return report(first < 0 ? 0 : first);
}

/* N datagrams on a connected UDP socket, then idle with the socket open. */
static int udp_hold(const struct target *t, long count, long size)
{
	char buf[65507];
	int fd, err = 0;

	memset(buf, 'x', (size_t)size);
	fd = socket(t->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return report(errno);
	if (connect(fd, (const struct sockaddr *)&t->ss, t->len) < 0)
		err = errno;
	for (long i = 0; i < count && !err; i++)
		if (send(fd, buf, (size_t)size, 0) != size)
			err = errno ? errno : EIO;
	report(err);
	fflush(stdout);
	if (err)
		return 1;
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct target t;
	const char *cmd;
	int opt;

	while ((opt = getopt(argc, argv, "+ht:")) != -1) {
		switch (opt) {
		case 't':
			timeout_ms = atoi(optarg);
			if (timeout_ms <= 0) {
				fprintf(stderr, "probe: bad timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[0];

	if (!strcmp(cmd, "ping")) {
		if (argc != 2 || parse_target(argv[1], NULL, 0, &t))
			goto bad;
		return report(ping(&t));
	}
	if (argc < 3)
		goto bad;
	if (!strcmp(cmd, "tcp-connect") || !strcmp(cmd, "tcp6-connect")) {
		if (argc > 4 || parse_target(argv[1], argv[2], cmd[3] == '6', &t))
			goto bad;
		return report(tcp_connect(&t, argc == 4 ? argv[3] : NULL));
	}
	if (!strcmp(cmd, "udp-sendto") || !strcmp(cmd, "udp-connect-send")) {
		if (argc > 4 || parse_target(argv[1], argv[2], 0, &t))
			goto bad;
		return report(udp_send(&t, argc == 4 ? argv[3] : DEFAULT_PAYLOAD,
				       cmd[4] == 'c'));
	}
	if (!strcmp(cmd, "raw-send")) {
		int udp = !strcmp(argv[1], "udp");

		if (!udp && strcmp(argv[1], "icmp"))
			goto bad;
		if (udp ? (argc < 4 || argc > 5) : argc != 3)
			goto bad;
		if (parse_target(argv[2], udp ? argv[3] : NULL, 0, &t))
			goto bad;
		return report(udp ? raw_udp(&t, argc == 5 ? argv[4] : DEFAULT_PAYLOAD) : raw_icmp(&t));
	}
	if (!strcmp(cmd, "tcp-fastopen")) {
		if (argc != 4 || parse_target(argv[1], argv[2], 0, &t))
			goto bad;
		return report(tcp_fastopen(&t, argv[3]));
	}
	if (!strcmp(cmd, "connect-loop")) {
		char *end;
		long n;

		if (argc != 4 || parse_target(argv[1], argv[2], 0, &t))
			goto bad;
		n = strtol(argv[3], &end, 10);
		if (*end || end == argv[3] || n <= 0)
			goto bad;
		return connect_loop(&t, n);
	}
	if (!strcmp(cmd, "udp-hold")) {
		char *end1, *end2;
		long n, size;

		if (argc != 5 || parse_target(argv[1], argv[2], 0, &t))
			goto bad;
		n = strtol(argv[3], &end1, 10);
		size = strtol(argv[4], &end2, 10);
		if (*end1 || end1 == argv[3] || n <= 0 || *end2 || end2 == argv[4] || size <= 0 ||
		    size > 65507)
			goto bad;
		return udp_hold(&t, n, size);
	}
bad:
	usage(stderr);
	return 2;
}
