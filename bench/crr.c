// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * crr: TCP connect/request/response rate (netperf TCP_CRR-like).
 *
 *   crr server [-t THREADS] PORT
 *       listen on every address (IPv4 and IPv6) and serve until SIGTERM:
 *       accept, read 1 byte, write 1 byte, close.
 *   crr client [-t THREADS] [-d SECONDS] ADDR PORT
 *       each thread loops for SECONDS: socket, connect, write 1 byte, read the
 *       1-byte reply, read EOF, close. Prints one line:
 *       conns N secs S rate R errors E
 *
 * The server closes first, so TIME_WAIT sits on the server side and the client
 * never runs out of ephemeral ports; the benchmark sets tcp_tw_reuse and a
 * wide ip_local_port_range in the client namespace anyway.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void usage(void)
{
	usage_exit("usage: crr server [-t THREADS] PORT\n"
		   "       crr client [-t THREADS] [-d SECONDS] ADDR PORT\n");
}

/* ---- server ---- */

static int lfd;

static void *serve(void *arg)
{
	char b;

	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				continue;
			perror("crr: accept");
			exit(1);
		}
		if (read(fd, &b, 1) == 1) {
			ssize_t w = write(fd, &b, 1);

			(void)w;	/* a client that went away is nothing to report */
		}
		close(fd);
	}
	return NULL;
}

static int server(int nthreads, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0, i;
	pthread_t t;

	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096)) {
		perror("crr: server socket");
		return 1;
	}
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&t, NULL, serve, NULL)) {
			fprintf(stderr, "crr: cannot start thread\n");
			return 1;
		}
	serve(NULL);
	return 0;
}

/* ---- client ---- */

struct cli {
	struct sockaddr_storage dst;
	socklen_t dlen;
	double deadline;
	uint64_t conns, errors;
	int first_errno;
	pthread_t t;
};

static void *client_loop(void *arg)
{
	struct cli *c = arg;
	char b = 'x';

	while (now_s() < c->deadline) {
		int fd = socket(c->dst.ss_family, SOCK_STREAM, 0);

		if (fd < 0)
			goto err;
		if (connect(fd, (struct sockaddr *)&c->dst, c->dlen) || write(fd, &b, 1) != 1 ||
		    read(fd, &b, 1) != 1 || read(fd, &b, 1) != 0) {
			close(fd);
			goto err;
		}
		close(fd);
		c->conns++;
		continue;
err:
		if (!c->first_errno)
			c->first_errno = errno ? errno : EPROTO;
		c->errors++;
		if (c->errors > 1000 && c->errors > c->conns)
			break;	/* nothing gets through: stop early, report */
		if (errno == EADDRNOTAVAIL)
			usleep(1000);
	}
	return NULL;
}

static int client(int nthreads, double secs, const char *addr, int port)
{
	struct cli *c = calloc((size_t)nthreads, sizeof(*c));
	struct sockaddr_storage dst = {};
	socklen_t dlen;
	uint64_t conns = 0, errors = 0;
	double t0, t1;
	int i, first_errno = 0;

	if (!c)
		return 1;
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&dst)->sin_addr) == 1) {
		((struct sockaddr_in *)&dst)->sin_family = AF_INET;
		((struct sockaddr_in *)&dst)->sin_port = htons((uint16_t)port);
		dlen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&dst)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&dst)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&dst)->sin6_port = htons((uint16_t)port);
		dlen = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "crr: bad address %s\n", addr);
		return 2;
	}
	t0 = now_s();
	for (i = 0; i < nthreads; i++) {
		c[i].dst = dst;
		c[i].dlen = dlen;
		c[i].deadline = t0 + secs;
		if (pthread_create(&c[i].t, NULL, client_loop, &c[i])) {
			fprintf(stderr, "crr: cannot start thread\n");
			return 1;
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(c[i].t, NULL);
		conns += c[i].conns;
		errors += c[i].errors;
		if (!first_errno)
			first_errno = c[i].first_errno;
	}
	t1 = now_s();
	printf("conns %llu secs %.3f rate %.1f errors %llu\n", (unsigned long long)conns, t1 - t0,
	       conns / (t1 - t0), (unsigned long long)errors);
	if (errors)
		fprintf(stderr, "crr: %llu errors, first: %s\n", (unsigned long long)errors,
			strerror(first_errno));
	free(c);
	return conns ? 0 : 1;
}

int main(int argc, char **argv)
{
	int nthreads = 1, c;
	double secs = 5;
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "t:d:")) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		default: usage();
		}
	}
	if (nthreads < 1 || secs <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "server") && optind + 1 == argc)
		return server(nthreads, atoi(argv[optind]));
	if (!strcmp(mode, "client") && optind + 2 == argc)
		return client(nthreads, secs, argv[optind], atoi(argv[optind + 1]));
	usage();
	return 2;
}
