// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * churn: new TCP connections at a fixed rate through many distinct flows,
 * for the soak row of `make bench` (bench/run.sh section soak).
 *
 *   churn -r RATE -d SECONDS -n FLOWS BASE PORTS
 *
 * Each connection is a new socket, a non-blocking connect(2) (the connect
 * hook decides, the SYN leaves through the egress hook) and a close, to the
 * i-th of FLOWS (address, port) pairs: BASE (an IPv4 /16, e.g. 10.240.0.0)
 * + i / PORTS, port 1 + i % PORTS. Prints "connections N rate R".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.h"

int main(int argc, char **argv)
{
	double rate = 10000, secs = 10, t0, next;
	unsigned long flows = 100000, ports, i = 0;
	struct in_addr base;
	int c;

	while ((c = getopt(argc, argv, "r:d:n:")) != -1) {
		if (c == 'r')
			rate = atof(optarg);
		else if (c == 'd')
			secs = atof(optarg);
		else if (c == 'n')
			flows = strtoul(optarg, NULL, 10);
		else
			usage_exit("usage: churn -r RATE -d SECONDS -n FLOWS BASE PORTS\n");
	}
	if (argc - optind != 2 || inet_pton(AF_INET, argv[optind], &base) != 1 || rate <= 0)
		usage_exit("usage: churn -r RATE -d SECONDS -n FLOWS BASE PORTS\n");
	ports = strtoul(argv[optind + 1], NULL, 10);
	if (!ports || !flows)
		usage_exit("churn: PORTS and FLOWS must be positive\n");
	t0 = next = now_s();
	while (now_s() - t0 < secs) {
		unsigned long f = i % flows;
		struct sockaddr_in sa = {
			.sin_family = AF_INET,
			.sin_port = htons(1 + f % ports),
			.sin_addr.s_addr = htonl(ntohl(base.s_addr) + (uint32_t)(f / ports)),
		};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (fd < 0) {
			perror("churn: socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS &&
		    errno != ENETUNREACH && errno != ECONNREFUSED) {
			perror("churn: connect");
			close(fd);
			return 1;
		}
		close(fd);
		i++;
		next += 1 / rate;
		double ahead = next - now_s();

		if (ahead > 0.001) {	/* pace in steps of a millisecond or more */
			struct timespec ts = { 0, (long)(ahead * 1e9) };

			nanosleep(&ts, NULL);
		}
	}
	printf("connections %lu rate %.0f\n", i, i / (now_s() - t0));
	return 0;
}
