// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rebind: service restarts as fast as the kernel allows, for the binding at
 * creation tests (tests/e2e/test_ident.sh). Run in the client network
 * namespace; DIRs are absolute cgroup2 directories, outermost first (each
 * cycle removes them innermost first and creates them again outermost
 * first; a DIR absent at the start is only created).
 *
 *   rebind cycle N ALLOW DENY DIR...
 *       N cycles; after each, at once (no sleep, no poll), a fresh process
 *       enters the last DIR and connects (TCP) to ALLOW and to DENY
 *       (ADDR:PORT, DENY "-": none). Prints
 *       "cycles=N allowed=A denied=D" with A the connects to ALLOW that
 *       succeeded, D the connects to DENY refused with EPERM, then one line
 *       per other outcome.
 *   rebind churn N DIR...
 *       N cycles, no process ever enters. Prints "cycles=N".
 *   rebind window TIMEOUT_MS ALLOW DIR...
 *       one cycle, then a fresh process enters the last DIR and connects to
 *       ALLOW from a new socket until it succeeds: prints "window_us=U
 *       attempts=K" (U from the mkdir to the first success), or
 *       "timeout attempts=K".
 *
 * Build: cc -O2 -Wall -Wextra -Werror -o rebind tests/probe/rebind.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "common.h"

#define CONNECT_TIMEOUT_MS 3000

struct target {
	struct sockaddr_storage ss;
	socklen_t len;
	int set;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + ts.tv_nsec / 1000;
}

static int parse_target(const char *arg, struct target *t)
{
	char addr[128];
	const char *colon = strrchr(arg, ':');
	long port;

	memset(t, 0, sizeof(*t));
	if (!strcmp(arg, "-"))
		return 0;
	if (!colon || (size_t)(colon - arg) >= sizeof(addr))
		return -1;
	memcpy(addr, arg, colon - arg);
	addr[colon - arg] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535 || sockaddr_parse(addr, port, 0, &t->ss, &t->len))
		return -1;
	t->set = 1;
	return 0;
}

/* 0 when connected, else the errno (ETIMEDOUT after CONNECT_TIMEOUT_MS). */
static int try_connect(const struct target *t)
{
	struct pollfd p;
	socklen_t elen = sizeof(int);
	int fd, err = 0;

	fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)&t->ss, t->len) == 0)
		err = 0;
	else if (errno != EINPROGRESS)
		err = errno;
	else {
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1)
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen))
			err = errno;
	}
	close(fd);
	return err;
}

static int rm_dir(const char *dir)
{
	int i;

	for (i = 0; i < 10000; i++) {	/* EBUSY: an exited child not yet gone from it */
		if (!rmdir(dir) || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
	}
	fprintf(stderr, "rebind: rmdir %s: %s\n", dir, strerror(errno));
	return -1;
}

/* Remove dirs innermost first, create them outermost first. */
static int recreate(char **dirs, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--)
		if (rm_dir(dirs[i]))
			return -1;
	for (i = 0; i < n; i++)
		if (mkdir(dirs[i], 0755)) {
			fprintf(stderr, "rebind: mkdir %s: %s\n", dirs[i], strerror(errno));
			return -1;
		}
	return 0;
}

static int enter(const char *dir)
{
	char path[4096];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, "0", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/* Child outcomes: the two errnos, or ENTER_FAILED. */
#define ENTER_FAILED 255

struct outcome {
	int allow_err, deny_err;
};

/* A fresh process enters dir and connects to a (and d): its outcome. The
 * errnos come back through a pipe (an exit status is too small for two). */
static int fresh_process(const char *dir, const struct target *a, const struct target *d,
			 struct outcome *o)
{
	int pfd[2], st;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct outcome r = { ENTER_FAILED, ENTER_FAILED };

		close(pfd[0]);
		if (enter(dir) == 0) {
			r.allow_err = try_connect(a);
			r.deny_err = d->set ? try_connect(d) : 0;
		}
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], o, sizeof(*o)) != sizeof(*o)) {
		close(pfd[0]);
		if (pid > 0)
			waitpid(pid, &st, 0);
		return -1;
	}
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return 0;
}

static void note(const char *what, int err, int cycle)
{
	printf("cycle %d: %s: %s\n", cycle, what,
	       err == ENTER_FAILED ? "could not enter the cgroup" : err ? errname(err) : "connected");
}

static int cmd_cycle(int n, const struct target *a, const struct target *d, char **dirs, int nd)
{
	int i, allowed = 0, denied = 0;
	struct outcome o;

	for (i = 0; i < n; i++) {
		if (recreate(dirs, nd) || fresh_process(dirs[nd - 1], a, d, &o))
			return 1;
		if (o.allow_err == 0)
			allowed++;
		else
			note("allow", o.allow_err, i);
		if (d->set && o.deny_err == EPERM)
			denied++;
		else if (d->set)
			note("deny", o.deny_err, i);
	}
	printf("cycles=%d allowed=%d denied=%d\n", n, allowed, denied);
	return 0;
}

static int cmd_churn(int n, char **dirs, int nd)
{
	int i;

	for (i = 0; i < n; i++)
		if (recreate(dirs, nd))
			return 1;
	printf("cycles=%d\n", n);
	return 0;
}

static int cmd_window(int timeout_ms, const struct target *a, char **dirs, int nd)
{
	int pfd[2], st, attempts = 0;
	uint64_t t0, res[2] = { 0, 0 };
	pid_t pid;

	for (int i = nd - 1; i >= 0; i--)
		if (rm_dir(dirs[i]))
			return 1;
	if (pipe2(pfd, O_CLOEXEC))
		return 1;
	t0 = now_us();
	for (int i = 0; i < nd; i++)
		if (mkdir(dirs[i], 0755))
			return 1;
	pid = fork();
	if (pid == 0) {
		uint64_t r[2] = { 0, 0 };	/* elapsed us (0: timeout), attempts */

		close(pfd[0]);
		if (enter(dirs[nd - 1]) == 0) {
			while (now_us() - t0 < (uint64_t)timeout_ms * 1000) {
				r[1]++;
				if (try_connect(a) == 0) {
					r[0] = now_us() - t0;
					break;
				}
			}
		}
		_exit(write(pfd[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], res, sizeof(res)) != sizeof(res))
		return 1;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	attempts = (int)res[1];
	if (res[0])
		printf("window_us=%llu attempts=%d\n", (unsigned long long)res[0], attempts);
	else
		printf("timeout attempts=%d\n", attempts);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: rebind cycle N ALLOW DENY DIR... | churn N DIR... | "
		"window TIMEOUT_MS ALLOW DIR...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct target a, d;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 6 && !strcmp(argv[1], "cycle")) {
		if (parse_target(argv[3], &a) || !a.set || parse_target(argv[4], &d))
			return usage();
		return cmd_cycle(atoi(argv[2]), &a, &d, argv + 5, argc - 5);
	}
	if (argc >= 4 && !strcmp(argv[1], "churn"))
		return cmd_churn(atoi(argv[2]), argv + 3, argc - 3);
	if (argc >= 5 && !strcmp(argv[1], "window")) {
		if (parse_target(argv[3], &a) || !a.set)
			return usage();
		return cmd_window(atoi(argv[2]), &a, argv + 4, argc - 4);
	}
	return usage();
}
