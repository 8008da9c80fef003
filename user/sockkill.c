// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Socket destruction through sock_diag (see sockkill.h for the contract).
 *
 * Flow of bh_sock_kill():
 *   1. collect network namespaces: the caller's, then /proc/PID/ns/net of every
 *      PID in cgroup.procs of every cgroup below the given directories,
 *      deduplicated by the nsfs inode (one open fd kept per namespace);
 *   2. per namespace, open a NETLINK_SOCK_DIAG socket inside it (short-lived
 *      thread: setns + socket, see diag_open_in());
 *   3. dump TCP and UDP, IPv4 and IPv6, asking the kernel for the states we
 *      care about; the predicate picks victims while the dump runs;
 *   4. after the four dumps, one SOCK_DESTROY (with ACK) per victim.
 *
 * Kernel facts this relies on (net/ipv4/inet_diag.c, net/core/sock_diag.c,
 * net/ipv4/udp_diag.c, kernels >= 5.9):
 *   - inet_diag_msg_attrs_fill() puts INET_DIAG_CGROUP_ID (u64, cgroup v2 id
 *     of the socket's creator) on every full socket unconditionally: there is
 *     no idiag_ext bit for it. Request sockets (TCP_NEW_SYN_RECV, reported as
 *     SYN_RECV) and time-wait sockets are filled elsewhere and carry none.
 *   - SOCK_DESTROY looks the socket up by the inet_diag_sockid 4-tuple and
 *     interface, then checks the cookie; it calls sk_prot->diag_destroy(sk,
 *     ECONNABORTED): tcp_abort() (error reported, RST to the peer, socket
 *     closed) or udp_abort() (sk_err = ECONNABORTED, socket disconnected).
 *     It needs CAP_NET_ADMIN over the socket's namespace; without
 *     CONFIG_INET_DIAG_DESTROY the answer is EOPNOTSUPP.
 *   - A dump cursor is a (bucket, index) pair: destroying sockets while a dump
 *     of the same table is still running could skip live ones, hence
 *     "select during the dump, destroy after it".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include "log.h"
#include "names.h"
#include "netns.h"
#include "sockkill.h"

/* Room for one netlink dump skb: the kernel caps those at 32 KiB, more on
 * big-page machines; MSG_TRUNC is still checked. */
#define BH_DIAG_BUFSZ (64u * 1024u)

#define BH_TCP_STATES                                                        \
	((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_SYN_RECV) | \
	 (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT))
#define BH_UDP_STATES (1u << TCP_ESTABLISHED) /* connected UDP */

_Static_assert(sizeof(struct inet_diag_req_v2) == 56, "inet_diag_req_v2 layout");
_Static_assert(sizeof(struct inet_diag_msg) == 72, "inet_diag_msg layout");

struct bh_victims {
	struct inet_diag_req_v2 *v;
	size_t n, cap;
};

/* State of one bh_sock_kill() call. */
struct bh_scan {
	bh_sock_pred pred;
	void *ctx;
	unsigned char *buf;	/* BH_DIAG_BUFSZ receive buffer */
	uint32_t seq;
	unsigned int destroyed;
	bool stop;		/* pred error or kernel cannot destroy: end now */
	int pred_err;		/* negative value a predicate returned */
	struct bh_victims victims;
	unsigned long ns_ino;	/* namespace being scanned, for messages */
};

/* ---- sock_diag socket inside a namespace ------------------------------ */

static int diag_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

static int diag_socket_cb(void *arg)
{
	(void)arg;
	return diag_socket();
}

/* A NETLINK_SOCK_DIAG socket in the namespace nsfd (-1: the caller's own):
 * a socket stays bound to the namespace it was created in. */
static int diag_open_in(int nsfd)
{
	return bh_netns_run(nsfd, diag_socket_cb, NULL);
}

/* ---- netlink ---------------------------------------------------------- */

static int diag_send(int fd, uint16_t type, uint16_t flags, uint32_t seq,
		     const struct inet_diag_req_v2 *r)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = type;
	req.nlh.nlmsg_flags = flags;
	req.nlh.nlmsg_seq = seq;
	req.r = *r;
	do
		n = sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl,
			   sizeof(nl));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(req) ? 0 : -EIO;
}

/* One datagram of netlink messages; returns its length or -errno. */
static ssize_t diag_recv(int fd, unsigned char *buf)
{
	struct sockaddr_nl nl;
	struct iovec iov = { .iov_base = buf, .iov_len = BH_DIAG_BUFSZ };
	struct msghdr msg = {
		.msg_name = &nl, .msg_namelen = sizeof(nl),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n;

	do
		n = recvmsg(fd, &msg, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (msg.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return n;
}

static void addr_to_16(uint8_t family, const __be32 *a, uint8_t out[16])
{
	if (family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, a, 4);
	} else {
		memcpy(out, a, 16);
	}
}

static int victims_add(struct bh_victims *vs, const struct inet_diag_msg *m,
		       uint8_t proto)
{
	struct inet_diag_req_v2 *r;

	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 16;

		r = realloc(vs->v, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		vs->v = r;
		vs->cap = cap;
	}
	r = &vs->v[vs->n++];
	memset(r, 0, sizeof(*r));
	r->sdiag_family = m->idiag_family;
	r->sdiag_protocol = proto;
	r->idiag_states = 1u << m->idiag_state;
	r->id = m->id; /* 4-tuple, interface and cookie, as dumped */
	return 0;
}

/* One SOCK_DIAG_BY_FAMILY answer: decode, ask pred, remember victims. */
static int dump_one(struct bh_scan *sc, const struct nlmsghdr *nlh,
		    uint8_t proto, uint32_t states)
{
	const struct inet_diag_msg *m = NLMSG_DATA(nlh);
	struct bh_sock_info si;
	const struct rtattr *rta;
	unsigned int len;
	int ret;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EPROTO;
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return 0;
	if (m->idiag_state >= 32 || !(states & (1u << m->idiag_state)))
		return 0;

	memset(&si, 0, sizeof(si));
	si.family = m->idiag_family;
	si.proto = proto;
	si.state = m->idiag_state;
	si.sport = ntohs(m->id.idiag_sport);
	si.dport = ntohs(m->id.idiag_dport);
	addr_to_16(si.family, m->id.idiag_src, si.src);
	addr_to_16(si.family, m->id.idiag_dst, si.dst);
	si.cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];

	len = nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (rta = (const struct rtattr *)(m + 1); RTA_OK(rta, len);
	     rta = RTA_NEXT(rta, len)) {
		if ((rta->rta_type & NLA_TYPE_MASK) == INET_DIAG_CGROUP_ID &&
		    RTA_PAYLOAD(rta) >= sizeof(si.cgroup_id))
			memcpy(&si.cgroup_id, RTA_DATA(rta), sizeof(si.cgroup_id));
	}

	ret = sc->pred(sc->ctx, &si);
	if (ret < 0) {
		sc->pred_err = ret;
		sc->stop = true;
		return ret;
	}
	return ret == 1 ? victims_add(&sc->victims, m, proto) : 0;
}

/* The error an NLMSG_ERROR message carries (0 for an ACK). */
static int nl_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);

	return nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) ? e->error : -EPROTO;
}

/* Send one request, then hand every reply message of its sequence to fn until
 * fn returns something other than 1 (0: done, -errno: failed): that is the
 * result. */
static int diag_request(struct bh_scan *sc, int fd, uint16_t type, uint16_t flags,
			const struct inet_diag_req_v2 *r,
			int (*fn)(struct bh_scan *sc, const struct nlmsghdr *nlh, void *arg),
			void *arg)
{
	const struct nlmsghdr *nlh;
	uint32_t seq = ++sc->seq;
	ssize_t n;
	size_t left;
	int ret;

	ret = diag_send(fd, type, flags, seq, r);
	if (ret)
		return ret;
	for (;;) {
		n = diag_recv(fd, sc->buf);
		if (n < 0)
			return (int)n;
		left = (size_t)n;
		for (nlh = (const struct nlmsghdr *)sc->buf; NLMSG_OK(nlh, left);
		     nlh = NLMSG_NEXT(nlh, left)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			ret = fn(sc, nlh, arg);
			if (ret != 1)
				return ret;
		}
	}
}

struct dump_arg {
	uint8_t proto;
	uint32_t states;
};

static int dump_msg(struct bh_scan *sc, const struct nlmsghdr *nlh, void *arg)
{
	const struct dump_arg *a = arg;
	int err;

	switch (nlh->nlmsg_type) {
	case NLMSG_DONE:
		err = 0;
		if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
			memcpy(&err, NLMSG_DATA(nlh), sizeof(int));
		return err;
	case NLMSG_ERROR:
		err = nl_error(nlh);
		return err ? err : -EPROTO;	/* an ACK ends no dump */
	case SOCK_DIAG_BY_FAMILY:
		err = dump_one(sc, nlh, a->proto, a->states);
		return err ? err : 1;
	default:
		return 1;
	}
}

/* Dump one (family, protocol) table of the namespace behind fd. */
static int diag_dump(struct bh_scan *sc, int fd, uint8_t family, uint8_t proto,
		     uint32_t states)
{
	struct inet_diag_req_v2 r = {
		.sdiag_family = family,
		.sdiag_protocol = proto,
		.idiag_states = states,
	};
	struct dump_arg a = { .proto = proto, .states = states };

	return diag_request(sc, fd, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, &r,
			    dump_msg, &a);
}

static int destroy_msg(struct bh_scan *sc, const struct nlmsghdr *nlh, void *arg)
{
	(void)sc;
	(void)arg;
	return nlh->nlmsg_type == NLMSG_ERROR ? nl_error(nlh) : 1;
}

/* 0 destroyed, -ENOENT already gone (or replaced: cookie differs), -errno. */
static int diag_destroy(struct bh_scan *sc, int fd,
			const struct inet_diag_req_v2 *r)
{
	return diag_request(sc, fd, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, r, destroy_msg,
			    NULL);
}

static void format_victim(const struct inet_diag_req_v2 *r, char *buf,
			  size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	inet_ntop(r->sdiag_family, r->id.idiag_src, s, sizeof(s));
	inet_ntop(r->sdiag_family, r->id.idiag_dst, d, sizeof(d));
	snprintf(buf, len, "%s %s:%u -> %s:%u", bh_proto_str(r->sdiag_protocol),
		 s, ntohs(r->id.idiag_sport), d, ntohs(r->id.idiag_dport));
}

/* Scan one namespace: four dumps, then the destroys. */
static int scan_netns(struct bh_scan *sc, const struct bh_netns *ns)
{
	static const struct {
		uint8_t family, proto;
		uint32_t states;
	} tables[] = {
		{ AF_INET, IPPROTO_TCP, BH_TCP_STATES },
		{ AF_INET6, IPPROTO_TCP, BH_TCP_STATES },
		{ AF_INET, IPPROTO_UDP, BH_UDP_STATES },
		{ AF_INET6, IPPROTO_UDP, BH_UDP_STATES },
	};
	char what[2 * INET6_ADDRSTRLEN + 32];
	size_t i;
	int fd, e, err = 0;

	sc->victims.n = 0;
	sc->ns_ino = (unsigned long)ns->ino;
	fd = diag_open_in(ns->fd);
	if (fd < 0) {
		err = fd;
		pr_warn("sockkill: netns %lu: cannot open sock_diag there: %s\n",
			sc->ns_ino, strerror(-err));
		goto out;
	}
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		err = diag_dump(sc, fd, tables[i].family, tables[i].proto,
				tables[i].states);
		if (sc->pred_err)
			goto out; /* the caller's error: not logged here */
		if (err == -ENOENT) {
			/* no diag handler for this protocol (module absent) */
			pr_debug("sockkill: netns %lu: no sock_diag for %s/%s\n",
				 sc->ns_ino, bh_proto_str(tables[i].proto),
				 tables[i].family == AF_INET ? "ipv4" : "ipv6");
			err = 0;
			continue;
		}
		if (err) {
			pr_warn("sockkill: netns %lu: %s dump failed: %s\n",
				sc->ns_ino, bh_proto_str(tables[i].proto),
				strerror(-err));
			goto out;
		}
	}
	for (i = 0; i < sc->victims.n; i++) {
		e = diag_destroy(sc, fd, &sc->victims.v[i]);
		if (!e) {
			sc->destroyed++;
			continue;
		}
		if (e == -ENOENT)
			continue; /* closed meanwhile, or cookie no longer matches */
		format_victim(&sc->victims.v[i], what, sizeof(what));
		pr_warn("sockkill: netns %lu: cannot destroy %s: %s\n", sc->ns_ino,
			what, strerror(-e));
		if (!err)
			err = e;
		if (e == -EOPNOTSUPP || e == -EPERM) {
			if (e == -EOPNOTSUPP)
				sc->stop = true;
			break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return err;
}

int bh_sock_kill(const char *const *cgroup_dirs, size_t n, bh_sock_pred pred,
		 void *ctx, unsigned int *destroyed)
{
	struct bh_netns_set set = { 0 };
	struct bh_scan sc = { .pred = pred, .ctx = ctx };
	size_t i;
	int e, err = 0;

	if (destroyed)
		*destroyed = 0;
	if (!pred || (n && !cgroup_dirs)) {
		err = -EINVAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!cgroup_dirs[i] || cgroup_dirs[i][0] != '/') {
			err = -EINVAL;
			pr_warn("sockkill: cgroup directory %zu is not an absolute path\n", i);
			goto out;
		}
	}
	sc.buf = malloc(BH_DIAG_BUFSZ);
	if (!sc.buf) {
		err = -ENOMEM;
		goto out;
	}
	err = bh_netns_collect(&set, cgroup_dirs, n);
	if (err && set.n == 0)
		goto out;
	for (i = 0; i < set.n && !sc.stop; i++) {
		e = scan_netns(&sc, &set.v[i]);
		if (e && !err)
			err = e;
	}
	if (sc.pred_err)
		err = sc.pred_err; /* the predicate's own error wins */
	pr_debug("sockkill: %zu network namespace(s) scanned, %u socket(s) destroyed\n",
		 set.n, sc.destroyed);
out:
	if (destroyed)
		*destroyed = sc.destroyed;
	bh_netns_free(&set);
	free(sc.victims.v);
	free(sc.buf);
	return err;
}

int bh_sock_kill_supported(void)
{
	/* All-zero 4-tuple, port 0 and cookie 0: no socket can match (cookies
	 * start at 1), so a kernel that can destroy answers ENOENT. */
	struct inet_diag_req_v2 r = {
		.sdiag_family = AF_INET,
		.sdiag_protocol = IPPROTO_TCP,
		.idiag_states = 1u << TCP_ESTABLISHED,
	};
	struct bh_scan sc = { 0 };
	int fd = -1, err;

	sc.buf = malloc(BH_DIAG_BUFSZ);
	if (!sc.buf) {
		err = -ENOMEM;
		goto out;
	}
	fd = diag_socket();
	if (fd < 0) {
		err = fd;
		pr_warn("sockkill: NETLINK_SOCK_DIAG socket: %s\n", strerror(-err));
		goto out;
	}
	err = diag_destroy(&sc, fd, &r);
	if (err == -ENOENT)
		err = 0;
	else if (err == -EOPNOTSUPP)
		pr_info("sockkill: kernel built without CONFIG_INET_DIAG_DESTROY: "
			"revoked flows are dropped but their sockets are not closed\n");
	else if (!err)
		err = -EPROTO; /* something matched a zero id: never expected */
	else
		pr_warn("sockkill: SOCK_DESTROY probe: %s\n", strerror(-err));
out:
	if (fd >= 0)
		close(fd);
	free(sc.buf);
	return err;
}
