// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Kernel test for user/sockkill.c (needs root): real sockets, a real network
 * namespace and a real cgroup v2 directory.
 *
 * A child process enters a fresh network namespace (unshare, only lo, brought
 * up), joins a fresh cgroup <cgroup2>/bh-sk-test-PID/inner and builds
 * loopback connections there; it hands the interesting fds to us over
 * SCM_RIGHTS and stays alive (so its namespace is found through cgroup.procs)
 * until we close the control socket. We stay in the host namespace: every
 * namespace bh_sock_kill() scans other than ours is found via the cgroup.
 * Predicates only ever select sockets of the test's own cgroup id, so no host
 * socket can be touched. No traffic leaves the child's loopback.
 *
 * Sockets (all in the child's namespace):
 *   t1  tcp  127.0.0.1 -> 127.0.0.1:p1   cgroup inner  -> destroyed
 *   t3  tcp6 ::1       -> [::1]:p3       cgroup inner  -> destroyed (if IPv6)
 *   t4  tcp6 ::ffff:127.0.0.1 -> p1      cgroup inner  -> destroyed (v4-mapped)
 *   ua  udp  connected to ub's port qb   cgroup inner  -> destroyed
 *   t2  tcp  -> p2 (port not selected)   cgroup inner  -> untouched
 *   t5  tcp  -> p1, created before the child joined the cgroup -> untouched
 *   ub  udp  connected to ua's port qa (not selected)          -> untouched
 *   a1, a2, a5: accepted peers of t1, t2, t5
 *   n_bulk connections to pb (kept in the child) for the bulk kill and timing
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "sockkill.h"
#include "../harness.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

/* ---- cleanup, also from signals (only async-signal-safe calls) -------- */

static volatile pid_t g_child = -1;
static char g_cg_top[PATH_MAX], g_cg_inner[PATH_MAX + 16];

static void cleanup(void)
{
	int i;

	if (g_child > 0) {
		kill(g_child, SIGKILL);
		waitpid(g_child, NULL, 0);
		g_child = -1;
	}
	/* We are a subreaper: reap the child's helper too (it dies with the
	 * child through PDEATHSIG), so no process outlives the test. */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	/* The child is reaped: the cgroups are empty. rmdir may briefly see
	 * EBUSY while the kernel finishes the exit; retry a little. */
	for (i = 0; i < 100 && g_cg_inner[0]; i++) {
		if (rmdir(g_cg_inner) == 0 || errno == ENOENT)
			g_cg_inner[0] = '\0';
		else
			usleep(10000);
	}
	for (i = 0; i < 100 && g_cg_top[0]; i++) {
		if (rmdir(g_cg_top) == 0 || errno == ENOENT)
			g_cg_top[0] = '\0';
		else
			usleep(10000);
	}
}

static void on_signal(int sig)
{
	static const char msg[] = "test_sockkill: interrupted, cleaning up\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	cleanup();
	_exit(2);
}

/* ---- helpers ------------------------------------------------------------ */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* cgroup2 mount point from /proc/self/mountinfo (octal escapes decoded). */
static int find_cgroup2(char *out, size_t len)
{
	char line[4096], mnt[PATH_MAX], fstype[64];
	const char *sep;
	FILE *f;
	int err = -ENOENT;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2") != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		{
			size_t i, o = 0;

			for (i = 0; mnt[i] && o + 1 < len; i++) {
				if (mnt[i] == '\\' && mnt[i + 1] >= '0' && mnt[i + 1] <= '7' &&
				    mnt[i + 2] && mnt[i + 3]) {
					out[o++] = (char)((mnt[i + 1] - '0') * 64 +
							  (mnt[i + 2] - '0') * 8 +
							  (mnt[i + 3] - '0'));
					i += 3;
				} else {
					out[o++] = mnt[i];
				}
			}
			out[o] = '\0';
		}
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static uint64_t sock_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l) < 0)
		return 0;
	return c;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -errno;
	return ti.tcpi_state;
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t l = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		return -errno;
	return e;
}

/* errno of a non-blocking recv, 0 if it returned data or EOF. */
static int recv_errno(int fd)
{
	char b[16];

	return recv(fd, b, sizeof(b), MSG_DONTWAIT) < 0 ? errno : 0;
}

static int send_errno(int fd)
{
	return send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? errno : 0;
}

/* Data sent on one end arrives on the other (within 2 s). */
static bool flow_works(int from, int to)
{
	struct pollfd p = { .fd = to, .events = POLLIN };
	char b[8];

	if (send(from, "ping", 4, MSG_NOSIGNAL) != 4)
		return false;
	if (poll(&p, 1, 2000) != 1)
		return false;
	return recv(to, b, sizeof(b), MSG_DONTWAIT) == 4 && !memcmp(b, "ping", 4);
}

/* ---- the child: namespace, cgroup, sockets ------------------------------ */

enum { FD_T1, FD_A1, FD_T2, FD_A2, FD_T5, FD_A5, FD_UA, FD_UB, FD_T3, FD_T4, FD_MAX };

struct child_report {
	int err;		/* 0 or -errno */
	char stage[64];		/* where it failed */
	uint16_t p1, p2, p3, pb, qa, qb;
	int v6;			/* t3 and t4 exist */
	unsigned int n_bulk;
};

static int lo_up(void)
{
	struct ifreq ifr;
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
out:
	close(fd);
	return err;
}

static int tcp_listen(int family, uint16_t *port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd, err;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET)
		err = bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	else
		err = bind(fd, (struct sockaddr *)&a6, sizeof(a6));
	if (err < 0 || listen(fd, 4096) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = local_port(fd);
	return fd;
}

/* Connect fd to the loopback port (v4, v6 ::1, or v4-mapped on a v6 socket). */
static int tcp_connect(int fd, int family, bool mapped, uint16_t port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if (family == AF_INET)
		return connect(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0 ? -errno : 0;
	if (mapped)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
	return connect(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0 ? -errno : 0;
}

static int udp_bound(uint16_t *port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0) {
		close(fd);
		return -errno;
	}
	*port = local_port(fd);
	return fd;
}

#define STEP(expr, name)                                        \
	do {                                                    \
		int _r = (expr);                                \
		if (_r < 0) {                                   \
			rep.err = _r == -1 ? -errno : _r;       \
			snprintf(rep.stage, sizeof(rep.stage), "%s", name); \
			goto report;                            \
		}                                               \
	} while (0)

/* Never returns. ctl: our end of the control socketpair. */
static void child_main(int ctl, const char *cg_procs, const char *top_procs,
		       unsigned int n_bulk, pid_t parent)
{
	struct child_report rep = { 0 };
	int fds[FD_MAX], l1 = -1, l2 = -1, l3 = -1, lb = -1, fd, i;
	unsigned int k;
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	struct rlimit rl;
	pid_t g = -1;
	char b;

	for (i = 0; i < FD_MAX; i++)
		fds[i] = -1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);

	STEP(unshare(CLONE_NEWNET) < 0 ? -errno : 0, "unshare(CLONE_NEWNET)");
	STEP(lo_up(), "bring lo up");

	/* A second process in the same namespace, in the parent cgroup of
	 * ours: the walk must recurse and count the namespace once. */
	{
		pid_t me = getpid();

		g = fork();

		STEP(g < 0 ? -errno : 0, "fork the second process");
		if (g == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != me)
				_exit(1);
			fd = open(top_procs, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0\n", 2) != 2)
				_exit(1);
			close(fd);
			while (read(ctl, &b, 1) > 0)
				;
			_exit(0);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * n_bulk + 64) {
		rl.rlim_cur = rl.rlim_max < 2 * n_bulk + 64 ? rl.rlim_max : 2 * n_bulk + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* t5 is created while we are still in the parent's cgroup. */
	STEP(fds[FD_T5] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket t5");
	fd = open(cg_procs, O_WRONLY | O_CLOEXEC);
	STEP(fd < 0 ? -errno : 0, "open cgroup.procs");
	i = write(fd, "0\n", 2) == 2 ? 0 : -errno;
	close(fd);
	STEP(i, "join the test cgroup");

	STEP(l1 = tcp_listen(AF_INET, &rep.p1), "listen p1");
	STEP(l2 = tcp_listen(AF_INET, &rep.p2), "listen p2");
	STEP(lb = tcp_listen(AF_INET, &rep.pb), "listen pb");

	STEP(fds[FD_T1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket t1");
	STEP(tcp_connect(fds[FD_T1], AF_INET, false, rep.p1), "connect t1");
	STEP(fds[FD_A1] = accept4(l1, NULL, NULL, SOCK_CLOEXEC), "accept a1");
	STEP(fds[FD_T2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket t2");
	STEP(tcp_connect(fds[FD_T2], AF_INET, false, rep.p2), "connect t2");
	STEP(fds[FD_A2] = accept4(l2, NULL, NULL, SOCK_CLOEXEC), "accept a2");
	STEP(tcp_connect(fds[FD_T5], AF_INET, false, rep.p1), "connect t5");
	STEP(fds[FD_A5] = accept4(l1, NULL, NULL, SOCK_CLOEXEC), "accept a5");

	STEP(fds[FD_UA] = udp_bound(&rep.qa), "udp ua");
	STEP(fds[FD_UB] = udp_bound(&rep.qb), "udp ub");
	{
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		a.sin_port = htons(rep.qb);
		STEP(connect(fds[FD_UA], (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0,
		     "connect ua");
		a.sin_port = htons(rep.qa);
		STEP(connect(fds[FD_UB], (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0,
		     "connect ub");
	}

	/* IPv6: ::1 appears when lo goes up; give it a moment. */
	for (i = 0; i < 100; i++) {
		l3 = tcp_listen(AF_INET6, &rep.p3);
		if (l3 != -EADDRNOTAVAIL)
			break;
		usleep(10000);
	}
	if (l3 >= 0) {
		rep.v6 = 1;
		STEP(fds[FD_T3] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket t3");
		STEP(tcp_connect(fds[FD_T3], AF_INET6, false, rep.p3), "connect t3");
		STEP(fds[FD_T4] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket t4");
		STEP(tcp_connect(fds[FD_T4], AF_INET6, true, rep.p1), "connect t4");
		/* accepted peers a3, a4 stay in the listeners' queues */
	}

	for (k = 0; k < n_bulk; k++) {
		STEP(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket bulk");
		STEP(tcp_connect(fd, AF_INET, false, rep.pb), "connect bulk");
		STEP(accept4(lb, NULL, NULL, SOCK_CLOEXEC), "accept bulk");
	}
	rep.n_bulk = n_bulk;

report:
	if (!rep.err) {
		int n = rep.v6 ? FD_MAX : FD_T3;

		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	}
	if (sendmsg(ctl, &msg, 0) < 0)
		_exit(1);
	/* Stay alive (and in the cgroup) until the parent closes its end. */
	while (read(ctl, &b, 1) > 0)
		;
	if (g > 0)
		waitpid(g, NULL, 0); /* it saw the same EOF */
	_exit(0);
}

/* ---- predicates ---------------------------------------------------------- */

struct count_ctx {
	uint64_t cg;			/* the test's inner cgroup id */
	unsigned long seen, in_cg;	/* sockets seen overall / in our cgroup */
	unsigned long pb_client, pb_server;
	uint16_t pb;
	uint64_t want[FD_MAX];		/* cookies to capture */
	struct bh_sock_info got[FD_MAX];
	bool have[FD_MAX];
};

static int pred_count(void *ctx, const struct bh_sock_info *si)
{
	struct count_ctx *c = ctx;
	int i;

	c->seen++;
	for (i = 0; i < FD_MAX; i++) {
		if (c->want[i] && c->want[i] == si->cookie) {
			c->got[i] = *si;
			c->have[i] = true;
		}
	}
	if (si->cgroup_id != c->cg)
		return 0;
	c->in_cg++;
	if (si->proto == IPPROTO_TCP && si->dport == c->pb)
		c->pb_client++;
	if (si->proto == IPPROTO_TCP && si->sport == c->pb)
		c->pb_server++;
	return 0;
}

struct kill_ctx {
	uint64_t cg;
	uint16_t tcp_ports[2];		/* destination ports selected for TCP */
	uint16_t udp_port;		/* destination port selected for UDP */
	unsigned long selected;
};

static int pred_kill(void *ctx, const struct bh_sock_info *si)
{
	struct kill_ctx *k = ctx;
	bool hit;

	if (si->cgroup_id != k->cg) /* never anything outside the test cgroup */
		return 0;
	if (si->proto == IPPROTO_TCP)
		hit = si->dport == k->tcp_ports[0] || si->dport == k->tcp_ports[1];
	else
		hit = si->dport == k->udp_port;
	k->selected += hit;
	return hit;
}

static int pred_fail(void *ctx, const struct bh_sock_info *si)
{
	(void)si;
	return *(int *)ctx;
}

static bool is_mapped_loopback(const uint8_t a[16])
{
	static const uint8_t m[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 };

	return memcmp(a, m, 16) == 0;
}

/* ---- the test -------------------------------------------------------------- */

int main(void)
{
	char mnt[PATH_MAX - 96], procs[PATH_MAX + 32], top_procs[PATH_MAX + 32];
	char missing[PATH_MAX + 32];
	struct child_report rep = { 0 };
	int fds[FD_MAX], ctl[2] = { -1, -1 }, i, rc, nfd = 0;
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm;
	struct count_ctx cc;
	struct kill_ctx kc;
	unsigned int n_bulk = 1000, destroyed, expect;
	const char *dirs[1], *env;
	struct stat st;
	uint64_t cg;
	double t0, t_scan, t_kill, t_bulk;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < FD_MAX; i++)
		fds[i] = -1;
	if (geteuid() != 0) {
		T_SKIP("test_sockkill: needs root (netns, cgroup, SOCK_DESTROY): skipped");
		return T_SUMMARY();
	}
	env = getenv("BH_SOCKKILL_BULK");
	if (env)
		n_bulk = (unsigned int)strtoul(env, NULL, 10);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGALRM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	alarm(300); /* watchdog: a hang still cleans up */

	rc = find_cgroup2(mnt, sizeof(mnt));
	CHECK(rc == 0, "cgroup2 mount not found in /proc/self/mountinfo: %s", strerror(-rc));
	if (rc)
		goto out;
	snprintf(g_cg_top, sizeof(g_cg_top), "%s/bh-sk-test-%d", mnt, (int)getpid());
	if (mkdir(g_cg_top, 0755) < 0) {
		CHECK(0, "mkdir %s: %s", g_cg_top, strerror(errno));
		g_cg_top[0] = '\0';
		goto out;
	}
	snprintf(g_cg_inner, sizeof(g_cg_inner), "%s/inner", g_cg_top);
	if (mkdir(g_cg_inner, 0755) < 0) {
		CHECK(0, "mkdir %s: %s", g_cg_inner, strerror(errno));
		g_cg_inner[0] = '\0';
		goto out;
	}
	rc = stat(g_cg_inner, &st);
	CHECK(rc == 0, "stat %s: %s", g_cg_inner, strerror(errno));
	if (rc)
		goto out;
	cg = st.st_ino; /* cgroup2: directory inode == cgroup id */
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", g_cg_inner);
	snprintf(top_procs, sizeof(top_procs), "%s/cgroup.procs", g_cg_top);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		CHECK(0, "socketpair: %s", strerror(errno));
		goto out;
	}
	{
		pid_t parent = getpid();

		child = fork();
		if (child < 0) {
			CHECK(0, "fork: %s", strerror(errno));
			goto out;
		}
		if (child == 0) {
			close(ctl[0]);
			child_main(ctl[1], procs, top_procs, n_bulk, parent);
		}
	}
	g_child = child;
	close(ctl[1]);
	ctl[1] = -1;

	if (recvmsg(ctl[0], &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(rep)) {
		CHECK(0, "child died during setup");
		goto out;
	}
	if (rep.err) {
		CHECK(0, "child setup: %s: %s", rep.stage, strerror(-rep.err));
		goto out;
	}
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		CHECK(0, "no fds from the child");
		goto out;
	}
	nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	memcpy(fds, CMSG_DATA(cm), nfd * sizeof(int));
	CHECK(nfd == (rep.v6 ? FD_MAX : FD_T3), "child sent %d fds", nfd);
	if (!rep.v6)
		printf("note: no ::1 in the test namespace, IPv6 cases skipped\n");
	printf("namespace ready: %u bulk connections, tcp p1=%u p2=%u p3=%u pb=%u, udp qa=%u qb=%u\n",
	       rep.n_bulk, rep.p1, rep.p2, rep.p3, rep.pb, rep.qa, rep.qb);
	dirs[0] = g_cg_top; /* the parent directory: the walk must recurse */

	/* 1. capability probe and argument checks */
	rc = bh_sock_kill_supported();
	CHECK(rc == 0, "bh_sock_kill_supported: %d (%s)", rc, strerror(-rc));
	rc = bh_sock_kill(dirs, 1, NULL, NULL, &destroyed);
	CHECK(rc == -EINVAL, "NULL pred: %d", rc);
	{
		const char *rel[1] = { "bh-relative" };

		rc = bh_sock_kill(rel, 1, pred_count, &cc, &destroyed);
		CHECK(rc == -EINVAL, "relative cgroup path: %d", rc);
	}
	{
		const char *notcg[1] = { "/" }; /* must not be walked */

		memset(&cc, 0, sizeof(cc));
		rc = bh_sock_kill(notcg, 1, pred_count, &cc, &destroyed);
		CHECK(rc == -EINVAL && destroyed == 0, "non-cgroup2 directory: %d", rc);
	}

	/* 2. scan only: every socket of our cgroup is seen, decoded right */
	memset(&cc, 0, sizeof(cc));
	cc.cg = cg;
	cc.pb = rep.pb;
	for (i = 0; i < nfd; i++)
		cc.want[i] = sock_cookie(fds[i]);
	destroyed = 99;
	t0 = now_ms();
	rc = bh_sock_kill(dirs, 1, pred_count, &cc, &destroyed);
	t_scan = now_ms() - t0;
	CHECK(rc == 0 && destroyed == 0, "scan: rc %d destroyed %u", rc, destroyed);
	/* in our cgroup: t1 a1 t2 a2 a5 ua ub (+ t3 a3 t4 a4) + 2 per bulk;
	 * t5 was created before the child joined the cgroup */
	expect = 7 + (rep.v6 ? 4 : 0) + 2 * rep.n_bulk;
	CHECK(cc.in_cg == expect, "scan: %lu sockets in the test cgroup, want %u",
	      cc.in_cg, expect);
	CHECK(cc.have[FD_T1] && cc.got[FD_T1].family == AF_INET &&
	      cc.got[FD_T1].proto == IPPROTO_TCP &&
	      cc.got[FD_T1].state == TCP_ESTABLISHED &&
	      cc.got[FD_T1].dport == rep.p1 &&
	      cc.got[FD_T1].sport == local_port(fds[FD_T1]) &&
	      is_mapped_loopback(cc.got[FD_T1].src) &&
	      is_mapped_loopback(cc.got[FD_T1].dst),
	      "scan: t1 not seen or decoded wrong");
	CHECK(cc.have[FD_UA] && cc.got[FD_UA].proto == IPPROTO_UDP &&
	      cc.got[FD_UA].sport == rep.qa && cc.got[FD_UA].dport == rep.qb,
	      "scan: connected udp ua not seen or decoded wrong");
	CHECK(cc.have[FD_T5] && cc.got[FD_T5].cgroup_id != cg, "scan: t5 cgroup");
	if (rep.v6) {
		CHECK(cc.have[FD_T4] && cc.got[FD_T4].family == AF_INET6 &&
		      cc.got[FD_T4].dport == rep.p1 &&
		      is_mapped_loopback(cc.got[FD_T4].dst),
		      "scan: v4-mapped t4 not seen or decoded wrong");
		CHECK(cc.have[FD_T3] && cc.got[FD_T3].family == AF_INET6 &&
		      cc.got[FD_T3].dst[15] == 1 && cc.got[FD_T3].dst[10] == 0,
		      "scan: t3 (::1) not seen or decoded wrong");
	}
	printf("scan: %lu sockets (host namespace + test namespace) in %.2f ms\n",
	       cc.seen, t_scan);

	/* without the cgroup, the test namespace is out of sight */
	memset(&cc, 0, sizeof(cc));
	cc.cg = cg;
	rc = bh_sock_kill(NULL, 0, pred_count, &cc, &destroyed);
	CHECK(rc == 0 && cc.in_cg == 0,
	      "own namespace only: rc %d, %lu test sockets seen", rc, cc.in_cg);

	/* 3. a predicate error stops everything and is returned */
	{
		/* -ENOENT too: it must not be taken for "no diag handler" */
		int errs[2] = { -EINTR, -ENOENT };

		for (i = 0; i < 2; i++) {
			rc = bh_sock_kill(dirs, 1, pred_fail, &errs[i], &destroyed);
			CHECK(rc == errs[i] && destroyed == 0,
			      "pred error %d: rc %d destroyed %u", errs[i], rc, destroyed);
		}
	}

	/* 4. a missing cgroup directory is an empty one */
	snprintf(missing, sizeof(missing), "%s/absent", g_cg_top);
	{
		const char *m[1] = { missing };

		memset(&kc, 0, sizeof(kc));
		kc.cg = cg;
		kc.tcp_ports[0] = rep.p1;
		rc = bh_sock_kill(m, 1, pred_kill, &kc, &destroyed);
		CHECK(rc == 0 && destroyed == 0 && kc.selected == 0,
		      "missing dir: rc %d destroyed %u selected %lu", rc, destroyed, kc.selected);
	}

	/* 5. the targeted kill */
	memset(&kc, 0, sizeof(kc));
	kc.cg = cg;
	kc.tcp_ports[0] = rep.p1;
	kc.tcp_ports[1] = rep.v6 ? rep.p3 : rep.p1;
	kc.udp_port = rep.qb;
	t0 = now_ms();
	rc = bh_sock_kill(dirs, 1, pred_kill, &kc, &destroyed);
	t_kill = now_ms() - t0;
	expect = rep.v6 ? 4 : 2; /* t1 ua (+ t3 t4) */
	CHECK(rc == 0, "kill: rc %d (%s)", rc, strerror(-rc));
	CHECK(destroyed == expect && kc.selected == expect,
	      "kill: destroyed %u selected %lu, want %u", destroyed, kc.selected, expect);

	rc = recv_errno(fds[FD_T1]);
	CHECK(rc == ECONNABORTED, "t1 recv: %s, want ECONNABORTED", strerror(rc));
	printf("t1 (tcp) recv after destroy: %s\n", strerror(rc));
	CHECK(tcp_state(fds[FD_T1]) == TCP_CLOSE, "t1 state %d, want CLOSE", tcp_state(fds[FD_T1]));
	rc = recv_errno(fds[FD_A1]);
	CHECK(rc == ECONNRESET, "a1 (peer of t1) recv: %s, want ECONNRESET", strerror(rc));
	printf("a1 (its peer) recv: %s\n", strerror(rc));
	rc = recv_errno(fds[FD_UA]);
	CHECK(rc == ECONNABORTED, "ua recv: %s, want ECONNABORTED", strerror(rc));
	printf("ua (udp) recv after destroy: %s\n", strerror(rc));
	if (rep.v6) {
		rc = recv_errno(fds[FD_T3]);
		CHECK(rc == ECONNABORTED, "t3 recv: %s, want ECONNABORTED", strerror(rc));
		rc = send_errno(fds[FD_T4]);
		CHECK(rc == ECONNABORTED, "t4 send: %s, want ECONNABORTED", strerror(rc));
		printf("t4 (tcp6 v4-mapped) send after destroy: %s\n", strerror(rc));
	}
	/* untouched: t2/a2 (other port), t5/a5 (other cgroup), ub (other port) */
	CHECK(so_error(fds[FD_T2]) == 0 && tcp_state(fds[FD_T2]) == TCP_ESTABLISHED &&
	      flow_works(fds[FD_T2], fds[FD_A2]) && flow_works(fds[FD_A2], fds[FD_T2]),
	      "t2 was touched");
	CHECK(so_error(fds[FD_T5]) == 0 && tcp_state(fds[FD_T5]) == TCP_ESTABLISHED &&
	      flow_works(fds[FD_T5], fds[FD_A5]) && flow_works(fds[FD_A5], fds[FD_T5]),
	      "t5 (other cgroup, selected port) was touched");
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		CHECK(so_error(fds[FD_UB]) == 0 && recv_errno(fds[FD_UB]) == EAGAIN &&
		      getpeername(fds[FD_UB], (struct sockaddr *)&ss, &sl) == 0,
		      "ub was touched");
	}

	/* 6. again: nothing left to destroy */
	memset(&kc.selected, 0, sizeof(kc.selected));
	rc = bh_sock_kill(dirs, 1, pred_kill, &kc, &destroyed);
	CHECK(rc == 0 && destroyed == 0 && kc.selected == 0,
	      "second kill: rc %d destroyed %u selected %lu", rc, destroyed, kc.selected);

	/* 7. bulk kill: every client socket to pb */
	memset(&kc, 0, sizeof(kc));
	kc.cg = cg;
	kc.tcp_ports[0] = kc.tcp_ports[1] = rep.pb;
	kc.udp_port = 0;
	t0 = now_ms();
	rc = bh_sock_kill(dirs, 1, pred_kill, &kc, &destroyed);
	t_bulk = now_ms() - t0;
	CHECK(rc == 0 && destroyed == rep.n_bulk,
	      "bulk kill: rc %d destroyed %u, want %u", rc, destroyed, rep.n_bulk);
	memset(&cc, 0, sizeof(cc));
	cc.cg = cg;
	cc.pb = rep.pb;
	rc = bh_sock_kill(dirs, 1, pred_count, &cc, &destroyed);
	CHECK(rc == 0 && cc.pb_client == 0, "after bulk kill: rc %d, %lu clients to pb left",
	      rc, cc.pb_client);
	printf("targeted kill (%u sockets): %.2f ms; bulk kill (%u sockets): %.2f ms; "
	       "peers of killed bulk clients still listed: %lu\n",
	       expect, t_kill, rep.n_bulk, t_bulk, cc.pb_server);

out:
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	if (ctl[0] >= 0)
		close(ctl[0]); /* the child exits on EOF */
	if (g_child > 0) {
		int status = 0;
		int tries;

		for (tries = 0; tries < 200; tries++) {
			if (waitpid(g_child, &status, WNOHANG) == g_child) {
				g_child = -1;
				break;
			}
			usleep(10000);
		}
	}
	cleanup();
	CHECK(!g_cg_top[0] && !g_cg_inner[0], "cgroup directories left behind");
	return T_SUMMARY();
}
