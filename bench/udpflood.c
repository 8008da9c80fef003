// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * udpflood: small UDP datagrams as fast as one thread can send them.
 *
 *   udpflood recv PORT
 *       count datagrams on every address (IPv4 and IPv6) until SIGTERM or
 *       SIGINT, then print: pkts N secs S rate R (S from the first datagram
 *       to the last one).
 *   udpflood send [-d SECONDS] [-s SIZE] [-u] ADDR PORT
 *       send SIZE-byte (default 64) datagrams for SECONDS, one send() each on
 *       a connected socket, or one sendto() each on an unconnected socket
 *       with -u. Prints: pkts N secs S rate R errors E
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	usage_exit("usage: udpflood recv PORT\n"
		   "       udpflood send [-d SECONDS] [-s SIZE] [-u] ADDR PORT\n");
}

static int do_recv(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: recv returns EINTR */
	int zero = 0, rcvbuf = 8 << 20, fd;
	uint64_t n = 0;
	double first = 0, last = 0;
	char buf[2048];

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("udpflood: recv socket");
		return 1;
	}
	/* 8 MiB past net.core.rmem_max when root, else as large as it allows */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	printf("listening\n");
	fflush(stdout);
	while (!stop) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("udpflood: recv");
			return 1;
		}
		last = now_s();
		if (!n++)
			first = last;
	}
	printf("pkts %llu secs %.3f rate %.1f\n", (unsigned long long)n, last - first,
	       n > 1 && last > first ? (n - 1) / (last - first) : 0.0);
	return 0;
}

static int do_send(double secs, int size, int unconnected, const char *addr, int port)
{
	struct sockaddr_storage dst = {};
	socklen_t dlen;
	uint64_t n = 0, errors = 0;
	double t0, t1, deadline;
	char buf[65536];
	int fd, first_errno = 0;

	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&dst)->sin_addr) == 1) {
		((struct sockaddr_in *)&dst)->sin_family = AF_INET;
		((struct sockaddr_in *)&dst)->sin_port = htons((uint16_t)port);
		dlen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&dst)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&dst)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&dst)->sin6_port = htons((uint16_t)port);
		dlen = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "udpflood: bad address %s\n", addr);
		return 2;
	}
	memset(buf, 'u', sizeof(buf));
	fd = socket(dst.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || (!unconnected && connect(fd, (struct sockaddr *)&dst, dlen))) {
		perror("udpflood: send socket");
		return 1;
	}
	t0 = now_s();
	deadline = t0 + secs;
	for (;;) {
		/* the clock is read every 64 datagrams */
		for (int i = 0; i < 64; i++) {
			ssize_t r = unconnected ? sendto(fd, buf, (size_t)size, 0,
							 (struct sockaddr *)&dst, dlen)
						: send(fd, buf, (size_t)size, 0);
			if (r == size) {
				n++;
			} else {
				if (!first_errno)
					first_errno = errno;
				errors++;
			}
		}
		if (now_s() >= deadline)
			break;
		if (errors > 100000 && errors > n)
			break;
	}
	t1 = now_s();
	printf("pkts %llu secs %.3f rate %.1f errors %llu\n", (unsigned long long)n, t1 - t0,
	       n / (t1 - t0), (unsigned long long)errors);
	if (errors)
		fprintf(stderr, "udpflood: %llu send errors, first: %s\n",
			(unsigned long long)errors, strerror(first_errno));
	return n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int size = 64, unconnected = 0, c;
	double secs = 3;
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "d:s:u")) != -1) {
		switch (c) {
		case 'd': secs = atof(optarg); break;
		case 's': size = atoi(optarg); break;
		case 'u': unconnected = 1; break;
		default: usage();
		}
	}
	if (size < 1 || size > 65000 || secs <= 0)
		usage();
	if (!strcmp(mode, "recv") && optind + 1 == argc)
		return do_recv(atoi(argv[optind]));
	if (!strcmp(mode, "send") && optind + 2 == argc)
		return do_send(secs, size, unconnected, argv[optind], atoi(argv[optind + 1]));
	usage();
	return 2;
}
