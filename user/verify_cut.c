// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The revocation and expiry proofs of `bulkhead verify` (verify.h): a sink
 * in verify's sink namespace counts what reaches it; a client forked into the
 * partner's probe cgroup and verify's wire namespace holds an established
 * TCP flow and a connected UDP flow to it through a just-in-time grant asked
 * of the daemon (as `bulkhead grant` does), then revokes it (or lets its 1 s
 * ttl run out) and sends again: the first packet after the cut must be
 * dropped (the UDP send fails with EPERM at the egress hook), nothing sent
 * after the cut may reach the sink, and the TCP socket must be destroyed.
 * Process-shared memory carries the results; the grant is revoked again on
 * every way out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bulkhead/bulkhead.h>
#include "control.h"
#include "values.h"
#include "verify.h"

#define SINK_PORT 9000
#define PRE 'a'		/* bytes sent while the grant lives */
#define POST 'Z'	/* bytes sent after the cut */
#define WAIT_NS 3000000000LL

struct cut_shm {
	/* the sink */
	volatile int sink_ready;
	volatile uint64_t got[2][2];		/* [tcp, udp][PRE, POST] */
	/* the client */
	volatile int phase;			/* 1 flows up, 2 done, < 0 failed at step -phase */
	volatile int tcp_send_err, tcp_dead_err, udp_first_err, denied_before;
	volatile int64_t cut_start_ns;		/* revoke sent (monotonic) / expiry (wall) */
	volatile int64_t udp_drop_ns, tcp_dead_ns, cut_mono_ns, revoke_done_ns;
	volatile int udp_sent_live;		/* datagrams that passed before the cut */
	char revoke_error[160];
};

struct cut {
	const struct bh_probe_env *env;
	const char *cgpath, *control, *partner;
	unsigned int ttl_s;
	char gid[96];
	int64_t expires_unix_ns;
	struct cut_shm *s;
};

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const struct bh_probe_env *cut_env;	/* the run's (one proof at a time) */

static void sink_addr(struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(SINK_PORT);
	inet_pton(AF_INET, cut_env->sink4, &sa->sin_addr);
}

static void count(struct cut_shm *s, int udp, const char *buf, ssize_t n)
{
	ssize_t i;

	for (i = 0; i < n; i++)
		s->got[udp][buf[i] == POST]++;
}

/* The sink (in the sink namespace, verify's own cgroup): counts bytes until
 * the pipe fd quit closes. */
static int sink_main(struct cut_shm *s, int quit)
{
	struct sockaddr_in sa;
	struct pollfd pf[4] = { { .fd = quit, .events = POLLIN } };
	int one = 1, n = 3;
	char buf[4096];
	ssize_t got;

	sink_addr(&sa);
	pf[1].fd = socket(AF_INET, SOCK_STREAM, 0);
	pf[2].fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(pf[1].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(pf[1].fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(pf[1].fd, 4) ||
	    bind(pf[2].fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 1;
	pf[1].events = pf[2].events = POLLIN;
	pf[3].fd = -1;
	s->sink_ready = 1;
	while (poll(pf, 4, -1) >= 0 && !(pf[0].revents & (POLLIN | POLLHUP))) {
		if (pf[1].revents & POLLIN && pf[3].fd < 0) {
			pf[3].fd = accept(pf[1].fd, NULL, NULL);
			pf[3].events = POLLIN;
			n = 4;
		}
		if (pf[2].revents & POLLIN && (got = recv(pf[2].fd, buf, sizeof(buf), 0)) > 0)
			count(s, 1, buf, got);
		if (pf[3].fd >= 0 && pf[3].revents & (POLLIN | POLLHUP | POLLERR)) {
			got = recv(pf[3].fd, buf, sizeof(buf), 0);
			if (got > 0) {
				count(s, 0, buf, got);
			} else {
				close(pf[3].fd);
				pf[3].fd = -1;
			}
		}
	}
	(void)n;
	return 0;
}

static pid_t sink_start(struct cut *c, int *quit)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (!pid) {
		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		_exit(setns(c->env->sink_ns, CLONE_NEWNET) ? 126 : sink_main(c->s, fds[0]));
	}
	close(fds[0]);
	*quit = fds[1];
	return pid < 0 ? -errno : pid;
}

/* Wait (at most WAIT_NS) for *flag to become non-zero. 0 or -ETIMEDOUT. */
static int wait_flag(volatile int *flag)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + WAIT_NS;

	while (!*flag && now_ns(CLOCK_MONOTONIC) < end && !bh_verify_stop)
		sched_yield();
	return *flag ? 0 : -ETIMEDOUT;
}

static int wait_count(volatile uint64_t *v, uint64_t want)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + WAIT_NS;

	while (*v < want && now_ns(CLOCK_MONOTONIC) < end)
		sched_yield();
	return *v >= want ? 0 : -ETIMEDOUT;
}

static json_t *ctl(const char *control, json_t *req)
{
	json_t *resp = bh_ctl_call(control, req);

	json_decref(req);
	return resp;
}

/* Revoke the grant, giving up after 1.5 s (in a child: the control client
 * waits for its answer, and a stopping daemon no longer answers). */
static void revoke_quietly(struct cut *c)
{
	struct timespec gap = { 0, 10000000 };
	pid_t pid = fork();
	int i, st;

	if (!pid) {
		json_t *r = ctl(c->control, json_pack("{s:s, s:s, s:s}", "op", "revoke",
						      "partner", c->partner, "grant", c->gid));

		_exit(json_is_true(json_object_get(r, "ok")) ? 0 : 1);
	}
	for (i = 0; pid > 0 && i < 150 && waitpid(pid, &st, WNOHANG) == 0; i++)
		nanosleep(&gap, NULL);
	if (pid > 0 && i == 150) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
}

/* The client's cut: revoke (revocation) or wait for the expiry, then send. */
static void client_cut(struct cut *c, int tcp, int udp)
{
	struct cut_shm *s = c->s;
	char z = POST;
	int64_t end;

	if (!c->ttl_s) {
		json_t *r;

		s->cut_start_ns = now_ns(CLOCK_MONOTONIC);
		r = ctl(c->control, json_pack("{s:s, s:s, s:s}", "op", "revoke", "partner",
					      c->partner, "grant", c->gid));
		if (!json_is_true(json_object_get(r, "ok")))
			snprintf(s->revoke_error, sizeof(s->revoke_error), "%s",
				 json_string_value(json_object_get(r, "error")) ?: "no answer");
		json_decref(r);
		s->revoke_done_ns = now_ns(CLOCK_MONOTONIC);
		s->udp_first_err = send(udp, &z, 1, 0) < 0 ? errno : 0;
		s->udp_drop_ns = now_ns(CLOCK_MONOTONIC);
	} else {
		/* a datagram every 100 us until one is refused: the first drop */
		char a = PRE;
		struct timespec gap = { 0, 100000 };

		end = now_ns(CLOCK_MONOTONIC) + (int64_t)c->ttl_s * 1000000000LL + WAIT_NS;
		s->cut_start_ns = c->expires_unix_ns;
		errno = 0;
		while (now_ns(CLOCK_MONOTONIC) < end && send(udp, &a, 1, 0) == 1) {
			s->udp_sent_live++;
			nanosleep(&gap, NULL);
		}
		s->udp_drop_ns = now_ns(CLOCK_REALTIME);
		s->udp_first_err = errno;
	}
	s->cut_mono_ns = now_ns(CLOCK_MONOTONIC);
	s->tcp_send_err = send(tcp, &z, 1, MSG_NOSIGNAL) < 0 ? errno : 0;
	/* the daemon destroys the cut-off socket: poll for its error */
	end = now_ns(CLOCK_MONOTONIC) + WAIT_NS;
	while (now_ns(CLOCK_MONOTONIC) < end) {
		struct pollfd pf = { .fd = tcp, .events = POLLIN };
		socklen_t l = sizeof(int);
		int e = 0;

		if (poll(&pf, 1, 10) > 0 || (getsockopt(tcp, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e)) {
			char b;

			if (!e && recv(tcp, &b, 1, MSG_DONTWAIT) < 0)
				e = errno;
			s->tcp_dead_err = e ? e : EPIPE;	/* 0 bytes: closed */
			s->tcp_dead_ns = now_ns(CLOCK_MONOTONIC);
			break;
		}
	}
}

/* A TCP socket whose blocking calls give up after WAIT_NS. */
static int tcp_socket(void)
{
	struct timeval tv = { WAIT_NS / 1000000000LL, 0 };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s >= 0) {
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return s;
}

/* The client: in the probe cgroup and the wire namespace. */
static int client_main(void *arg)
{
	struct cut *c = arg;
	struct cut_shm *s = c->s;
	struct sockaddr_in sa;
	int tcp, udp;
	char a = PRE;

	sink_addr(&sa);
	tcp = tcp_socket();
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	if (tcp < 0 || udp < 0 || connect(tcp, (struct sockaddr *)&sa, sizeof(sa)) ||
	    connect(udp, (struct sockaddr *)&sa, sizeof(sa))) {
		s->phase = -1;
		return 1;
	}
	if (send(tcp, &a, 1, 0) != 1 || send(udp, &a, 1, 0) != 1 ||
	    wait_count(&s->got[0][0], 1) || wait_count(&s->got[1][0], 1)) {
		s->phase = -2;
		return 1;
	}
	s->phase = 1;
	client_cut(c, tcp, udp);
	s->phase = 2;
	close(tcp);
	close(udp);
	return 0;
}

/* Before the grant the sink must be out of reach (refused at connect, or
 * its SYN dropped): the grant is what lets the flows in. */
static int denied_first(void *arg)
{
	struct cut *c = arg;
	struct sockaddr_in sa;
	int s = tcp_socket();

	sink_addr(&sa);
	c->s->denied_before = connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			      (errno == EPERM || errno == EINPROGRESS || errno == ETIMEDOUT);
	close(s);
	return 0;
}

static int run_child(struct cut *c, int (*fn)(void *arg))
{
	pid_t pid = bh_probe_spawn(c->cgpath, c->env->wire_ns, fn, c);
	int st = 0;

	if (pid < 0)
		return pid;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
		kill(pid, SIGKILL);
	}
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -ECHILD;
}

/* Ask the daemon for the grant. 0 or -errno with why. */
static int grant(struct cut *c, char *why, size_t len)
{
	char ttl[16], gerr[BH_REASON_LEN], to[24];
	json_t *r, *g;

	snprintf(to, sizeof(to), "%s/32", c->env->sink4);
	snprintf(ttl, sizeof(ttl), "%us", c->ttl_s ? c->ttl_s : 30);
	r = ctl(c->control, json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "op", "grant",
				      "partner", c->partner, "grant", "to", to,
				      "proto", "any", "ttl", ttl, "purpose",
				      c->ttl_s ? "bulkhead verify: expiry proof" :
				      "bulkhead verify: revocation proof"));
	g = json_object_get(r, "grant");
	if (!json_is_true(json_object_get(r, "ok")) || !json_string_value(json_object_get(g, "id"))) {
		snprintf(why, len, "the daemon at %s refused the grant: %s", c->control,
			 r ? json_string_value(json_object_get(r, "error")) ?: "?" : strerror(errno));
		json_decref(r);
		return -EIO;
	}
	snprintf(c->gid, sizeof(c->gid), "%s", json_string_value(json_object_get(g, "id")));
	if (bh_parse_rfc3339(json_string_value(json_object_get(g, "expires")) ?: "",
			     &c->expires_unix_ns, gerr))
		c->expires_unix_ns = 0;
	json_decref(r);
	return 0;
}

static json_t *result(const struct cut *c)
{
	const struct cut_shm *s = c->s;
	const char *failed = NULL;
	double cut_ms = (double)(s->udp_drop_ns - s->cut_start_ns) / 1e6;
	json_t *o;

	if (!s->denied_before)
		failed = "the sink was reachable before the grant (a connect hook missing, or "
			 "another grant covers it)";
	else if (s->phase != 2)
		failed = s->phase == -1 ? "the flows to the sink could not be set up" :
			 "the sink did not receive the first bytes";
	else if (s->revoke_error[0])
		failed = "the revoke was refused";
	else if (s->udp_first_err != EPERM)
		failed = "the first UDP packet after the cut was not dropped";
	else if (s->got[0][1] || s->got[1][1])
		failed = "a byte sent after the cut reached the sink";
	else if (!s->tcp_dead_err)
		failed = "the TCP socket was not destroyed";
	o = json_pack("{s:s, s:s, s:b}", "proof", c->ttl_s ? "expiry" : "revocation", "grant",
		      c->gid, "ok", !failed);
	if (failed)
		json_object_set_new(o, "failed", json_string(failed));
	if (s->phase == 2 && !s->revoke_error[0] && s->cut_start_ns)
		json_object_set_new(o, "cut_ms", json_real(cut_ms));
	if (c->ttl_s)
		json_object_set_new(o, "datagrams_before_expiry", json_integer(s->udp_sent_live));
	if (s->revoke_done_ns) {	/* the revoke's round trip, then to the drop */
		json_object_set_new(o, "revoke_ms",
				    json_real((double)(s->revoke_done_ns - s->cut_start_ns) / 1e6));
		json_object_set_new(o, "drop_after_return_ms",
				    json_real((double)(s->udp_drop_ns - s->revoke_done_ns) / 1e6));
	}
	json_object_set_new(o, "udp_after_cut", json_string(s->udp_first_err ?
		strerrorname_np(s->udp_first_err) ?: "?" : "sent"));
	json_object_set_new(o, "tcp_send_after_cut", json_string(s->tcp_send_err ?
		strerrorname_np(s->tcp_send_err) ?: "?" : "queued"));
	json_object_set_new(o, "tcp_socket", json_string(s->tcp_dead_err ?
		strerrorname_np(s->tcp_dead_err) ?: "?" : "alive"));
	if (s->tcp_dead_err)
		json_object_set_new(o, "tcp_destroyed_ms",
				    json_real((double)(s->tcp_dead_ns - s->cut_mono_ns) / 1e6));
	json_object_set_new(o, "bytes_after_cut", json_integer((json_int_t)(s->got[0][1] + s->got[1][1])));
	if (s->revoke_error[0])
		json_object_set_new(o, "revoke_error", json_string(s->revoke_error));
	return o;
}

json_t *bh_verify_cut(const struct bh_probe_env *env, const char *cgpath, const char *control,
		      const char *partner, unsigned int ttl_s, char *why, size_t whylen)
{
	struct cut c = { .env = env, .cgpath = cgpath, .control = control, .partner = partner,
			 .ttl_s = ttl_s };
	json_t *o = NULL;
	int quit = -1, st;
	pid_t sink;

	cut_env = env;
	c.s = mmap(NULL, sizeof(*c.s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c.s == MAP_FAILED) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	memset(c.s, 0, sizeof(*c.s));
	sink = sink_start(&c, &quit);
	if (sink < 0 || wait_flag(&c.s->sink_ready) || run_child(&c, denied_first)) {
		snprintf(why, whylen, "the sink could not start in verify's namespace");
		goto out;
	}
	if (c.s->denied_before && grant(&c, why, whylen))
		goto out;
	if (c.s->denied_before)
		run_child(&c, client_main);
	o = result(&c);
out:
	/* the grant must not outlive the proof: revoke it unless the proof did
	 * (if the daemon cannot answer, its 30 s or 1 s ttl ends it) */
	if (c.gid[0] && (ttl_s || !c.s->revoke_done_ns))
		revoke_quietly(&c);
	if (quit >= 0)
		close(quit);
	if (sink > 0) {
		kill(sink, SIGKILL);
		waitpid(sink, &st, 0);
	}
	munmap(c.s, sizeof(*c.s));
	return o;
}
