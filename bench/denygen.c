// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * denygen: denied TCP connects to distinct (address, port) tuples at a given
 * rate, to drive bulkhead's event path. Run it in a partner cgroup with no
 * grant for ADDR: every connect() fails with EPERM in cgroup/connect4, so no
 * packet is ever sent.
 *
 *   denygen [-r RATE] [-d SECONDS] [-n NADDR] [-c COUNT] [-p FIRSTPORT] ADDR
 *
 * Tuples cycle over ports 1..65535 of NADDR consecutive addresses starting at
 * ADDR (default 16: 1M tuples), so no tuple repeats within bulkhead's 1 s
 * flood window below 1M attempts/s and every attempt is a first-of-window
 * event. Choose addresses the namespace has no route to: a connect that is
 * not denied then fails at once (ENETUNREACH) and sends nothing. RATE 0 (default) means as fast as possible; otherwise attempts are
 * paced in 1 ms slots. -c stops after COUNT attempts (then -d is only a
 * limit); -p starts at that port (default 1). Prints one line:
 *   attempts N eperm E other O secs S rate R
 * and exits 1 when any connect did not fail with EPERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
	usage_exit("usage: denygen [-r RATE] [-d SECONDS] [-n NADDR] [-c COUNT] [-p FIRSTPORT] "
		   "ADDR\n");
}

int main(int argc, char **argv)
{
	double rate = 0, secs = 3, t0, t, deadline;
	uint64_t attempts = 0, eperm = 0, other = 0, target, count = 0;
	uint32_t base, naddr = 16, ai = 0;
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct in_addr a;
	unsigned int port = 1;
	int c, fd;

	while ((c = getopt(argc, argv, "r:d:n:c:p:")) != -1) {
		switch (c) {
		case 'c': count = strtoull(optarg, NULL, 10); break;
		case 'p': port = (unsigned int)atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'n': naddr = (uint32_t)atoi(optarg); break;
		default: usage();
		}
	}
	if (optind + 1 != argc || inet_pton(AF_INET, argv[optind], &a) != 1 || !naddr ||
	    rate < 0 || secs <= 0 || !port || port > 65535)
		usage();
	base = ntohl(a.s_addr);
	/* non-blocking: a connect that is not denied must not wait for a peer */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		perror("denygen: socket");
		return 1;
	}
	t0 = now_s();
	deadline = t0 + secs;
	for (;;) {
		t = now_s();
		if (t >= deadline || other >= 100 || (count && attempts >= count))
			break;
		/* attempts due by the end of this 1 ms slot */
		target = rate > 0 ? (uint64_t)((t - t0 + 0.001) * rate) : attempts + 256;
		if (count && target > count)
			target = count;
		if (attempts >= target) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
			continue;
		}
		while (attempts < target) {
			dst.sin_addr.s_addr = htonl(base + ai);
			dst.sin_port = htons((uint16_t)port);
			if (++port > 65535) {
				port = 1;
				ai = (ai + 1) % naddr;
			}
			attempts++;
			if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0 || errno != EPERM) {
				/* not denied: this was no deny test; start over on a new socket */
				if (++other >= 100) {
					fprintf(stderr, "denygen: connects are not denied (%s)\n",
						strerror(errno));
					break;
				}
				close(fd);
				fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
				if (fd < 0) {
					perror("denygen: socket");
					return 1;
				}
			} else {
				eperm++;
			}
		}
	}
	t = now_s();
	printf("attempts %llu eperm %llu other %llu secs %.3f rate %.1f\n",
	       (unsigned long long)attempts, (unsigned long long)eperm, (unsigned long long)other,
	       t - t0, attempts / (t - t0));
	return other ? 1 : 0;
}
