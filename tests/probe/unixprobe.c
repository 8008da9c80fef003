// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * unixprobe: UNIX socket clients and servers for the local UNIX socket tests
 * (tests/e2e/test_unix.sh). NAME is a path, or "@name" for an abstract name.
 *
 *   unixprobe serve TYPE NAME     bind NAME (TYPE stream, dgram, seqpacket),
 *                                 listen, print "ready", then accept and close
 *                                 connections until killed
 *   unixprobe connect TYPE NAME   connect(2) a new TYPE socket to NAME
 *   unixprobe sendto NAME         one datagram from an unconnected socket
 *   unixprobe bench N NAME        N stream connects (socket, connect, close)
 *                                 to NAME: prints "ns_per_connect=T ok=K"
 *
 * A client prints "ok" or the errno's name ("EPERM") and exits 0 either way
 * (1 on a usage error).
 *
 * Build: cc -O2 -Wall -Wextra -Werror -o unixprobe tests/probe/unixprobe.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

static int sock_type(const char *s)
{
	if (!strcmp(s, "stream"))
		return SOCK_STREAM;
	if (!strcmp(s, "dgram"))
		return SOCK_DGRAM;
	if (!strcmp(s, "seqpacket"))
		return SOCK_SEQPACKET;
	return -1;
}

/* NAME as an address; its length (abstract: exactly the name's bytes). */
static socklen_t addr_of(const char *name, struct sockaddr_un *sun)
{
	size_t n = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n >= sizeof(sun->sun_path))
		return 0;
	memcpy(sun->sun_path, name, n);
	if (name[0] == '@') {
		sun->sun_path[0] = 0;
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static int report(int rc)
{
	printf("%s\n", rc ? errname(errno) : "ok");
	return 0;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int bench(long n, const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = addr_of(name, &sun);
	long i, ok = 0;
	long long t0;

	if (!len || n <= 0)
		return fprintf(stderr, "unixprobe: bad count or name\n"), 1;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd < 0)
			return report(-1), 1;
		ok += connect(fd, (struct sockaddr *)&sun, len) == 0;
		close(fd);
	}
	printf("ns_per_connect=%lld ok=%ld\n", (now_ns() - t0) / n, ok);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun;
	socklen_t len;
	int type, fd;

	if (argc == 4 && (!strcmp(argv[1], "serve") || !strcmp(argv[1], "connect"))) {
		type = sock_type(argv[2]);
		len = addr_of(argv[3], &sun);
		if (type < 0 || !len)
			return fprintf(stderr, "unixprobe: bad type or name\n"), 1;
		fd = socket(AF_UNIX, type, 0);
		if (fd < 0)
			return report(-1);
		if (argv[1][0] == 'c')
			return report(connect(fd, (struct sockaddr *)&sun, len));
		if (bind(fd, (struct sockaddr *)&sun, len) ||
		    (type != SOCK_DGRAM && listen(fd, 128)))
			return report(-1), 1;
		printf("ready\n");
		fflush(stdout);
		for (;;) {	/* connections are accepted and closed */
			int c = type == SOCK_DGRAM ? -1 : accept(fd, NULL, NULL);

			if (c >= 0)
				close(c);
			else
				pause();
		}
	}
	if (argc == 3 && !strcmp(argv[1], "sendto")) {
		len = addr_of(argv[2], &sun);
		fd = len ? socket(AF_UNIX, SOCK_DGRAM, 0) : -1;
		if (!len)
			return fprintf(stderr, "unixprobe: bad name\n"), 1;
		if (fd < 0)
			return report(-1);
		return report(sendto(fd, "x", 1, 0, (struct sockaddr *)&sun, len) == 1 ? 0 : -1);
	}
	if (argc == 4 && !strcmp(argv[1], "bench"))
		return bench(atol(argv[2]), argv[3]);
	fprintf(stderr, "usage: unixprobe serve|connect TYPE NAME | sendto NAME | bench N NAME\n");
	return 1;
}
