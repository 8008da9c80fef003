// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probes (probe.h): namespaces made on a short-lived thread with
 * unshare(CLONE_NEWNET) and kept by their nsfs fd alone (no name under
 * /run/netns, no holder process), configured by `ip` run inside them after
 * setns(2); the transient child cgroup; the probing child.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bulkhead/bulkhead.h>
#include "log.h"
#include "netns.h"
#include "probe.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define SINK_FD 100	/* where `ip` finds the sink namespace: /proc/self/fd/100 */

/* lo up in the caller's namespace. 0 or -errno. */
static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(s);
	return err;
}

static void *ns_make_thread(void *arg)
{
	int *fd = arg, err;

	if (unshare(CLONE_NEWNET) < 0) {
		*fd = -errno;
		return NULL;
	}
	err = lo_up();
	*fd = err ? err : open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*fd == -1)
		*fd = -errno;
	return NULL;
}

/* A new network namespace with lo up: its fd, or -errno. */
static int ns_make(void)
{
	pthread_t t;
	int fd = -EINVAL, err = pthread_create(&t, NULL, ns_make_thread, &fd);

	if (err)
		return -err;
	pthread_join(t, NULL);
	return fd;
}

/* `ip ARGS` inside namespace ns (the sink namespace at /proc/self/fd/100
 * when sink >= 0). 0 or -EIO, logged. */
static int ip_in(int ns, int sink, const char *const *argv)
{
	pid_t pid = fork();
	int st, devnull;

	if (pid < 0)
		return -errno;
	if (!pid) {
		devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		if (setns(ns, CLONE_NEWNET) < 0 || (sink >= 0 && dup2(sink, SINK_FD) < 0))
			_exit(126);
		execvp("ip", (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		pr_warn("verify: `ip %s %s %s` in the probe namespace failed%s\n", argv[1], argv[2],
			argv[3] ? argv[3] : "", WIFEXITED(st) && WEXITSTATUS(st) == 127 ?
			" (no ip command: install iproute2)" : "");
		return -EIO;
	}
	return 0;
}

#define IP(ns, ...) ip_in(ns, -1, (const char *const[]){ "ip", __VA_ARGS__, NULL })

/* The veth pair from wire to sink, addressed and routed. 0 or -errno. */
static int wire_up(const struct bh_probe_env *e)
{
	static const char *const add[] = { "ip", "link", "add", "bhw0", "type", "veth", "peer",
					   "name", "bhw1", "netns", "/proc/self/fd/100", NULL };
	char sink30[24];
	int err = ip_in(e->wire_ns, e->sink_ns, add);

	snprintf(sink30, sizeof(sink30), "%s/30", e->sink4);

	err = err ?: IP(e->wire_ns, "addr", "add", e->wire4, "dev", "bhw0");
	err = err ?: IP(e->wire_ns, "-6", "addr", "add", "fd00:b4::1/64", "dev", "bhw0", "nodad");
	err = err ?: IP(e->sink_ns, "addr", "add", sink30, "dev", "bhw1");
	err = err ?: IP(e->sink_ns, "-6", "addr", "add", BH_PROBE_SINK6 "/64", "dev", "bhw1", "nodad");
	err = err ?: IP(e->sink_ns, "link", "set", "bhw1", "up");
	err = err ?: IP(e->wire_ns, "link", "set", "bhw0", "up");
	err = err ?: IP(e->wire_ns, "route", "add", "default", "via", e->sink4);
	err = err ?: IP(e->wire_ns, "-6", "route", "add", "default", "via", BH_PROBE_SINK6);
	return err;
}

int bh_probe_env_open(struct bh_probe_env *env, int wire)
{
	unsigned int base = 4u * ((unsigned int)getpid() % 16384u);
	int err = 0;

	snprintf(env->wire4, sizeof(env->wire4), "198.18.%u.%u/30", base >> 8, (base & 0xff) + 1);
	snprintf(env->sink4, sizeof(env->sink4), "198.18.%u.%u", base >> 8, (base & 0xff) + 2);
	env->probe_ns = ns_make();
	env->wire_ns = wire ? ns_make() : -1;
	env->sink_ns = wire ? ns_make() : -1;
	if (env->probe_ns < 0 || (wire && (env->wire_ns < 0 || env->sink_ns < 0))) {
		err = env->probe_ns < 0 ? env->probe_ns : env->wire_ns < 0 ? env->wire_ns :
		      env->sink_ns;
		pr_warn("verify: cannot make a private network namespace: %s\n", strerror(-err));
	} else if (wire) {
		err = wire_up(env);
	}
	if (err)
		bh_probe_env_close(env);
	return err;
}

void bh_probe_env_close(struct bh_probe_env *env)
{
	int *fds[] = { &env->probe_ns, &env->wire_ns, &env->sink_ns };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

struct ifn {
	char *buf;
	size_t len;
};

static int ifnames(void *arg)
{
	struct if_nameindex *v = if_nameindex(), *i;
	struct ifn *f = arg;
	size_t off = 0;

	if (!v)
		return -errno;
	f->buf[0] = '\0';
	for (i = v; i->if_index && off < f->len; i++)
		off += snprintf(f->buf + off, f->len - off, "%s%s", off ? "," : "", i->if_name);
	if_freenameindex(v);
	return 0;
}

int bh_probe_ifnames(int ns, char *buf, size_t len)
{
	struct ifn f = { buf, len };

	return bh_netns_run(ns, ifnames, &f);
}

int bh_probe_cgroup_make(const char *cgdir, char *out)
{
	static unsigned int n;

	snprintf(out, PATH_MAX, "%s/bh-verify.%d.%u", cgdir, (int)getpid(), n++);
	if (mkdir(out, 0755) < 0) {
		int err = -errno;

		pr_warn("verify: cannot make the probe cgroup %s: %s\n", out, strerror(errno));
		return err;
	}
	return 0;
}

void bh_probe_cgroup_remove(const char *path)
{
	struct timespec ts = { 0, 2000000 };
	int i;

	/* the last probe child was reaped; the kernel empties the cgroup soon */
	for (i = 0; i < 500 && rmdir(path) < 0 && errno == EBUSY; i++)
		nanosleep(&ts, NULL);
	if (i == 500 || (access(path, F_OK) == 0))
		pr_warn("verify: cannot remove the probe cgroup %s: %s\n", path, strerror(errno));
}

pid_t bh_probe_spawn(const char *cgpath, int ns, int (*fn)(void *arg), void *arg)
{
	char procs[PATH_MAX];
	pid_t pid;
	int fd, ok;

	pid = fork();
	if (pid)
		return pid < 0 ? -errno : pid;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgpath);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	ok = fd >= 0 && write(fd, "0\n", 2) == 2;
	if (!ok || (ns >= 0 && setns(ns, CLONE_NEWNET) < 0)) {
		fprintf(stderr, "bulkhead verify: the probe cannot join %s: %s\n",
			ok ? "its network namespace" : procs, strerror(errno));
		_exit(125);
	}
	if (fd >= 0)
		close(fd);
	_exit(fn(arg) & 0xff);
}

socklen_t bh_probe_sockaddr(const struct bh_prefix *dst, uint16_t port, void *sa)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct sockaddr_in *s4 = sa;
	struct sockaddr_in6 *s6 = sa;

	if (!memcmp(dst->addr, mapped, sizeof(mapped))) {
		memset(s4, 0, sizeof(*s4));
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, dst->addr + 12, 4);
		return sizeof(*s4);
	}
	memset(s6, 0, sizeof(*s6));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, dst->addr, 16);
	return sizeof(*s6);
}

static uint16_t csum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* One probe: its socket, its connect or sendto. */
static void probe_one(struct bh_probe *p)
{
	struct sockaddr_storage sa;
	socklen_t len = bh_probe_sockaddr(&p->dst, p->port, &sa), cl = sizeof(p->cookie);
	int v6 = sa.ss_family == AF_INET6, s, r;
	struct icmphdr echo = { .type = ICMP_ECHO, .un.echo.id = htons(0xb4) };
	struct icmp6_hdr echo6 = { .icmp6_type = ICMP6_ECHO_REQUEST };

	if (p->proto == BH_PROTO_ICMP)
		s = socket(sa.ss_family, SOCK_RAW | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	else
		s = socket(sa.ss_family, (p->proto == BH_PROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) |
			   SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		p->err = errno;
		p->said = BH_SAID_ERROR;
		return;
	}
	getsockopt(s, SOL_SOCKET, SO_COOKIE, &p->cookie, &cl);
	if (p->proto == BH_PROTO_TCP) {
		r = connect(s, (struct sockaddr *)&sa, len);
	} else if (p->proto == BH_PROTO_UDP) {
		r = sendto(s, "v", 1, 0, (struct sockaddr *)&sa, len);
	} else if (v6) {
		r = sendto(s, &echo6, sizeof(echo6), 0, (struct sockaddr *)&sa, len);
	} else {
		echo.checksum = csum(&echo, sizeof(echo));
		r = sendto(s, &echo, sizeof(echo), 0, (struct sockaddr *)&sa, len);
	}
	p->err = r < 0 ? errno : 0;
	p->said = p->err == EPERM ? BH_SAID_DENY : BH_SAID_ALLOW;
	close(s);
}

struct run {
	const struct bh_probe_env *env;
	struct bh_probe *p;	/* shared with the parent */
	size_t n;
	int tick;		/* pipe: one byte every 64 probes */
};

static int run_probes(void *arg)
{
	struct run *r = arg;
	size_t i, done = 0;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass && setns(r->env->wire_ns, CLONE_NEWNET) < 0)
			return 3;
		for (i = 0; i < r->n; i++) {
			if ((r->p[i].proto == BH_PROTO_ICMP) != pass)
				continue;
			probe_one(&r->p[i]);
			if (++done % 64 == 0 && write(r->tick, "", 1) < 0)
				return 4;
		}
		if (!pass && r->env->wire_ns < 0)
			break;
	}
	return 0;
}

int bh_probe_run(const struct bh_probe_env *env, const char *cgpath, struct bh_probe *p,
		 size_t n, void (*progress)(void *ctx, size_t done), void *ctx)
{
	size_t bytes = n ? n * sizeof(*p) : 1, done = 0;
	struct run r = { .env = env, .n = n };
	int fds[2], st = 0, err = 0;
	char c[64];
	ssize_t got;
	pid_t pid;

	r.p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r.p == MAP_FAILED)
		return -errno;
	memcpy(r.p, p, n * sizeof(*p));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		err = -errno;
		goto out;
	}
	r.tick = fds[1];
	pid = bh_probe_spawn(cgpath, env->probe_ns, run_probes, &r);
	close(fds[1]);
	if (pid < 0) {
		err = pid;
		close(fds[0]);
		goto out;
	}
	while ((got = read(fds[0], c, sizeof(c))) != 0) {
		if (got < 0 && errno == EINTR) {
			kill(pid, SIGKILL);
			err = -EINTR;
			break;
		}
		if (got < 0)
			break;
		done += 64 * (size_t)got;
		if (progress)
			progress(ctx, done < n ? done : n);
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!err && (!WIFEXITED(st) || WEXITSTATUS(st)))
		err = -ECHILD;
	memcpy(p, r.p, n * sizeof(*p));
out:
	munmap(r.p, bytes);
	return err;
}
