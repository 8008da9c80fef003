// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * systemd's service notification protocol, written here rather than linked
 * from libsystemd: the protocol is one datagram of "KEY=VALUE\n" lines sent
 * to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace), which is all sd_notify(3) does for the four messages
 * this daemon sends. Own code keeps the binary free of a libsystemd
 * dependency (containers and non-systemd hosts run the same build; the
 * package depends on nothing more) at the cost of ~60 lines; nothing here
 * needs sd_notify's fd passing or barrier features.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "log.h"
#include "notify.h"

/* $NOTIFY_SOCKET -> address; 0 or -EINVAL (not a path or abstract name). */
static int notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@')
		sa->sun_path[0] = '\0';	/* abstract: no terminating NUL counted */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	return 0;
}

int bh_notify_send(const char *msg)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd, err;

	if (!name || !*name)
		return 0;
	err = notify_addr(name, &sa, &len);
	if (err) {
		pr_warn("NOTIFY_SOCKET=%s: not a socket path or @abstract name\n", name);
		return err;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		pr_warn("notifying the service manager at %s: %s\n", name, strerror(-err));
	return err;
}

int bh_notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\n%s%s%s", status ? "STATUS=" : "",
		 status ? status : "", status ? "\n" : "");
	return bh_notify_send(msg);
}

/* systemd >= 253 (Type=notify-reload) wants MONOTONIC_USEC with RELOADING=1. */
int bh_notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	return bh_notify_send(msg);
}

int bh_notify_stopping(void)
{
	return bh_notify_send("STOPPING=1\n");
}

int bh_notify_status(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	return bh_notify_send(msg);
}
