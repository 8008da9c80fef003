/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Helpers shared by the test programs in this folder (probe.c, jitflow.c).
 * Header-only; include it after the system headers, with _GNU_SOURCE defined
 * before them (strerrorname_np).
 */
#ifndef BH_TESTS_PROBE_COMMON_H
#define BH_TESTS_PROBE_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The errno's name ("EPERM"), or "E<number>" for one without a name. */
static inline const char *errname(int err)
{
	static char buf[32];
	const char *n = strerrorname_np(err);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

/*
 * The address literal addr and port (host order) as a socket address: a.b.c.d
 * is AF_INET (AF_INET6 ::ffff:a.b.c.d when map6 is set), anything inet_pton
 * takes as IPv6 is AF_INET6. Returns 0, or -1 when addr is neither; the
 * caller says so.
 */
static inline int sockaddr_parse(const char *addr, unsigned short port, int map6,
				 struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct in_addr a4;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		if (map6) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			sin6->sin6_addr.s6_addr[10] = 0xff;
			sin6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&sin6->sin6_addr.s6_addr[12], &a4, 4);
			*len = sizeof(*sin6);
		} else {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			sin->sin_addr = a4;
			*len = sizeof(*sin);
		}
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

#endif /* BH_TESTS_PROBE_COMMON_H */
