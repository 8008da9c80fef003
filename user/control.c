// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Control socket: its lock, its access (root, --control-group,
 * --read-group), framing, credentials, limits and timeouts, served without
 * blocking the daemon's loop. Requests are answered by ops.c (the {op,
 * handler} table). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <endian.h>
#include <grp.h>
#include <poll.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "events.h"
#include "lock.h"
#include "log.h"
#include "text.h"

#define BH_CTL_UNENCODABLE \
	"{\"ok\":false,\"error\":\"internal error: the daemon could not encode its reply " \
	"(see its log)\"}\n"	/* a request (e.g. `apply` with a policy) */

json_t *bh_ctl_error(const char *fmt, ...)
{
	char *m = NULL, u[1024];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	o = json_pack("{s:b, s:s}", "ok", 0, "error",
		      m ? bh_sanitize((const uint8_t *)m, strlen(m), u, sizeof(u)) : "out of memory");
	free(m);
	return o;
}

static int addr_of(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int bh_ctl_owner(const char *path)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int fd, pid = 0;

	if (addr_of(path, &sa))
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	/* a socket nobody answers on (ECONNREFUSED, ENOENT) is stale */
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		pid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.pid <= 0 ?
		      -1 : cred.pid;
	close(fd);
	return pid;
}

/* The directory of path (made 0700, or 0711 when groups reach the socket). */
static int make_sock_dir(const char *path, int shared)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, shared ? 0711 : 0700) && errno != EEXIST)
		return -errno;
	if (!shared || stat(dir, &st))
		return 0;
	/* our own private directory (a run without groups made it): members of
	 * the groups must be able to pass through it to the socket */
	if (st.st_uid == 0 && (st.st_mode & 07777) == 0700) {
		if (chmod(dir, 0711))
			return -errno;
		pr_info("control: %s made 0711 so the --control-group/--read-group reach %s\n",
			dir, path);
	}
	return 0;
}

int bh_ctl_lock(const char *path, int *holder)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int fd, err;

	*holder = 0;
	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock))
		return -ENAMETOOLONG;
	err = make_sock_dir(path, 0);
	if (err)
		return err;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		if (err == -EADDRINUSE)
			*holder = bh_flock_holder(fd);
		close(fd);
		return err;
	}
	return fd;
}

/* A POSIX ACL on path: owner and owning group rw, group gid rw, others
 * nothing (system.posix_acl_access, little-endian on disk). */
static int acl_add_group(const char *path, gid_t gid)
{
	struct acl_entry {
		uint16_t tag, perm;
		uint32_t id;
	} __attribute__((packed));
	struct {
		uint32_t version;
		struct acl_entry e[5];
	} __attribute__((packed)) acl = {
		.version = htole32(2),
		.e = {
			{ htole16(0x01), htole16(6), htole32(-1) },	/* user::rw */
			{ htole16(0x04), htole16(6), htole32(-1) },	/* group::rw */
			{ htole16(0x08), htole16(6), htole32(gid) },	/* group:gid:rw */
			{ htole16(0x10), htole16(6), htole32(-1) },	/* mask::rw */
			{ htole16(0x20), htole16(0), htole32(-1) },	/* other::- */
		},
	};

	return setxattr(path, "system.posix_acl_access", &acl, sizeof(acl), 0) ? -errno : 0;
}

/* The socket file's mode: 0600 root, or 0660 for the control group (else
 * the read group), with an ACL entry for the read group beside a control
 * group. */
static int set_access(const char *path, const struct bh_ctl_access *acc)
{
	gid_t owner = acc->control_name ? acc->control_gid : acc->read_gid;

	if (!acc->control_name && !acc->read_name)
		return chmod(path, 0600) ? -errno : 0;
	if (chown(path, 0, owner) || chmod(path, 0660))
		return -errno;
	if (acc->control_name && acc->read_name && acc->read_gid != acc->control_gid) {
		int err = acl_add_group(path, acc->read_gid);

		if (err)
			pr_warn("control: cannot give the read group %s access to %s (a POSIX "
				"ACL): %s\n", acc->read_name, path, strerror(-err));
		return err;
	}
	return 0;
}

static int ctl_listen(const char *path, const struct bh_ctl_access *acc)
{
	struct sockaddr_un sa;
	int fd, err;
	mode_t old;

	err = addr_of(path, &sa);
	if (!err)
		err = make_sock_dir(path, acc->control_name || acc->read_name);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);	/* a stale socket of a killed daemon: we hold its lock */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err)
		err = set_access(path, acc);
	if (!err && listen(fd, 64))
		err = -errno;
	if (err) {
		close(fd);
		unlink(path);
		return err;
	}
	return fd;
}

/* Read one line (up to '\n' or EOF) into a malloc'ed buffer. */
static char *read_line(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;

	while (buf) {
		if (n + 1 >= cap) {
			if (cap >= BH_CTL_MAX)
				break;
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0 && n)
				goto done;
			break;
		}
		n += r;
		if (memchr(buf + n - r, '\n', r))
			goto done;
	}
	free(buf);
	return NULL;
done:
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* send(2) with MSG_NOSIGNAL: a peer that went away is an EPIPE, never a
 * SIGPIPE that kills the CLI before it can say what happened. */
static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		s += w;
		len -= w;
	}
	return 0;
}

static int send_json(int fd, const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT), *line = NULL;
	int err;

	if (!s)
		return -ENOMEM;
	if (asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	err = line ? write_all(fd, line, strlen(line)) : -ENOMEM;
	free(line);
	free(s);
	return err;
}

static void peer_comm(pid_t pid, char *out, size_t len)
{
	char path[64], raw[64] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, raw, sizeof(raw) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0 && raw[n - 1] == '\n')
		n--;
	bh_sanitize((const uint8_t *)raw, n > 0 ? (size_t)n : 0, out, len);
}

/* ---- the server: every connection non-blocking, in the daemon's poll ---- */

struct bh_ctl_conn {
	int fd;			/* -1: a free slot */
	int replying;		/* buf holds the reply, off bytes of it sent */
	struct bh_peer peer;
	char *buf;
	size_t len, cap, off;
	int64_t deadline_ms;	/* the whole request, then the whole reply */
};

struct bh_ctl_server {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct bh_ctl_access acc;
	bh_ctl_handler h;
	void *ctx;
	struct bh_ctl_conn c[BH_CTL_CONNS];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bh_ctl_server_open(struct bh_ctl_server **sp, const char *path,
		       const struct bh_ctl_access *acc, bh_ctl_handler h, void *ctx)
{
	struct bh_ctl_server *s = calloc(1, sizeof(*s));
	size_t i;

	*sp = NULL;
	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->acc = *acc;
	s->h = h;
	s->ctx = ctx;
	for (i = 0; i < BH_CTL_CONNS; i++)
		s->c[i].fd = -1;
	s->lfd = ctl_listen(path, acc);
	if (s->lfd < 0) {
		int err = s->lfd;

		free(s);
		return err;
	}
	*sp = s;
	return 0;
}

static void conn_close(struct bh_ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void bh_ctl_server_close(struct bh_ctl_server *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < BH_CTL_CONNS; i++)
		conn_close(&s->c[i]);
	close(s->lfd);
	unlink(s->path);
	free(s);
}

/* The peer is in group gid (its primary group or a supplementary one, as
 * they were when it connected). */
static int peer_in_group(int fd, gid_t primary, gid_t gid)
{
	gid_t g[512];
	socklen_t len = sizeof(g);
	size_t i;

	if (primary == gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len))
		return 0;
	for (i = 0; i < len / sizeof(g[0]); i++)
		if (g[i] == gid)
			return 1;
	return 0;
}

static int peer_of(const struct bh_ctl_server *s, int fd, struct bh_peer *p)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		return -errno;
	p->uid = cred.uid;
	p->pid = cred.pid;
	peer_comm(cred.pid, p->comm, sizeof(p->comm));
	if (cred.uid == 0)
		p->role = BH_PEER_ROOT;
	else if (s->acc.control_name && peer_in_group(fd, cred.gid, s->acc.control_gid))
		p->role = BH_PEER_CONTROL;
	else if (s->acc.read_name && peer_in_group(fd, cred.gid, s->acc.read_gid))
		p->role = BH_PEER_READ;
	return 0;
}

/* Make resp (consumed) the connection's reply; never nothing: a response
 * jansson cannot build or encode still gets a reply the client can read. */
static void conn_reply(struct bh_ctl_conn *c, json_t *resp)
{
	char *s = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	size_t n = s ? strlen(s) : 0;

	json_decref(resp);
	free(c->buf);
	c->buf = s ? realloc(s, n + 2) : NULL;
	if (c->buf) {
		c->buf[n] = '\n';
		c->len = n + 1;
	} else {
		free(s);
		c->buf = strdup(BH_CTL_UNENCODABLE);
		c->len = c->buf ? strlen(c->buf) : 0;
	}
	c->cap = c->len;
	c->off = 0;
	c->replying = 1;
	c->deadline_ms = now_ms() + BH_CTL_TIMEOUT_MS;
}

static json_t *refuse_peer(const struct bh_ctl_server *s, const struct bh_peer *p)
{
	pr_warn("control: refused uid %u pid %d (%s): not root%s%s%s%s\n", p->uid, p->pid,
		p->comm, s->acc.control_name ? ", not in the control group " : "",
		s->acc.control_name ?: "", s->acc.read_name ? ", not in the read group " : "",
		s->acc.read_name ?: "");
	if (!s->acc.control_name && !s->acc.read_name)
		/* the socket is 0600 root, so this is a descriptor passed on or a
		 * changed mode; the request is not looked at */
		return bh_ctl_error("permission denied: the control socket is for root only");
	return bh_ctl_error("permission denied: uid %u is not root%s%s%s%s", p->uid,
			    s->acc.control_name ? " and not in the control group " : "",
			    s->acc.control_name ?: "",
			    s->acc.read_name ? " and not in the read group " : "",
			    s->acc.read_name ?: "");
}

/* The request line (NUL-terminated) of c, complete: its answer. */
static json_t *answer(struct bh_ctl_server *s, struct bh_ctl_conn *c)
{
	json_error_t je;
	json_t *req, *resp;

	if (c->peer.role == BH_PEER_NONE)
		return refuse_peer(s, &c->peer);
	req = json_loadb(c->buf, c->len, JSON_REJECT_DUPLICATES, &je);
	if (!req)
		return bh_ctl_error("bad request: not JSON: line %d, column %d: %s (a request is "
				    "one JSON object on one line)", je.line, je.column, je.text);
	if (!json_is_object(req))
		resp = bh_ctl_error("bad request: a JSON object expected, not %s (a request is "
				    "one JSON object on one line)", json_is_array(req) ? "an array" :
				    json_is_string(req) ? "a string" : "a scalar");
	else
		resp = s->h(s->ctx, req, &c->peer);
	json_decref(req);
	return resp;
}

/* Send what the socket takes of the reply: 1 when it is all sent (or the
 * peer is gone), 0 to wait for POLLOUT. */
static int conn_send(struct bh_ctl_conn *c)
{
	while (c->off < c->len) {
		ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return 1;
		c->off += w;
	}
	return 1;
}

/* Read what is there; 1 once a request was answered. */
static int conn_read(struct bh_ctl_server *s, struct bh_ctl_conn *c)
{
	for (;;) {
		ssize_t r;

		if (c->len >= BH_CTL_MAX) {
			pr_warn("control: uid %u pid %d (%s): a request over %d bytes refused\n",
				c->peer.uid, c->peer.pid, c->peer.comm, BH_CTL_MAX);
			conn_reply(c, bh_ctl_error("bad request: longer than %d bytes (a request "
						   "is one JSON object on one line)", BH_CTL_MAX));
			return 0;
		}
		if (c->len + 1 >= c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;
			char *nb;

			if (cap > BH_CTL_MAX + 1)
				cap = BH_CTL_MAX + 1;
			nb = realloc(c->buf, cap);
			if (!nb) {
				conn_reply(c, bh_ctl_error("out of memory reading the request"));
				return 0;
			}
			c->buf = nb;
			c->cap = cap;
		}
		r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0 && !c->len) {
			conn_close(c);	/* went away without a word */
			return 0;
		}
		if (r > 0)
			c->len += r;
		if (r > 0 && !memchr(c->buf + c->len - r, '\n', r))
			continue;
		c->buf[c->len] = '\0';	/* a line, or EOF after some bytes */
		conn_reply(c, answer(s, c));
		return 1;
	}
}

static void accept_all(struct bh_ctl_server *s)
{
	size_t i;
	int fd;

	while ((fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		struct bh_ctl_conn *c = NULL;

		for (i = 0; i < BH_CTL_CONNS && !c; i++)
			if (s->c[i].fd < 0)
				c = &s->c[i];
		if (!c) {
			static const char busy[] = "{\"ok\":false,\"error\":\"busy: " \
				"the daemon has too many control connections open; try again\"}\n";

			send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c->fd = fd;
		if (peer_of(s, fd, &c->peer)) {
			conn_close(c);
			continue;
		}
		c->deadline_ms = now_ms() + BH_CTL_TIMEOUT_MS;
	}
}

void bh_ctl_pollfds(const struct bh_ctl_server *s, struct pollfd *pfd)
{
	size_t i;

	pfd[0] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (i = 0; i < BH_CTL_CONNS; i++)
		pfd[1 + i] = (struct pollfd){ .fd = s->c[i].fd,
					      .events = s->c[i].replying ? POLLOUT : POLLIN };
}

int bh_ctl_timeout(const struct bh_ctl_server *s, int timeout)
{
	int64_t now = now_ms();
	size_t i;

	for (i = 0; i < BH_CTL_CONNS; i++) {
		int64_t left = s->c[i].deadline_ms - now;

		if (s->c[i].fd < 0)
			continue;
		if (left < 0)
			left = 0;
		if (timeout < 0 || left < timeout)
			timeout = (int)left;
	}
	return timeout;
}

/* A connection past its deadline: a request that never completed gets its
 * error (as any reply: within the next deadline); a reply nobody reads is
 * dropped. */
static void expire(struct bh_ctl_conn *c)
{
	if (c->replying) {
		pr_warn("control: uid %u pid %d (%s) did not read its reply within %d ms: "
			"dropped\n", c->peer.uid, c->peer.pid, c->peer.comm, BH_CTL_TIMEOUT_MS);
		conn_close(c);
		return;
	}
	pr_warn("control: uid %u pid %d (%s) sent no complete request within %d ms (%zu "
		"bytes): refused\n", c->peer.uid, c->peer.pid, c->peer.comm, BH_CTL_TIMEOUT_MS,
		c->len);
	conn_reply(c, bh_ctl_error("bad request: timed out: no complete request within %d ms "
				   "(a request is one JSON object on one line)",
				   BH_CTL_TIMEOUT_MS));
	if (conn_send(c))
		conn_close(c);
}

int bh_ctl_serve(struct bh_ctl_server *s, const struct pollfd *pfd)
{
	int64_t now;
	size_t i;
	int n = 0;

	if (pfd[0].revents & POLLIN)
		accept_all(s);
	for (i = 0; i < BH_CTL_CONNS; i++) {
		struct bh_ctl_conn *c = &s->c[i];
		short ev = pfd[1 + i].fd == c->fd ? pfd[1 + i].revents : 0;

		if (c->fd < 0)
			continue;
		if (!c->replying && (ev & (POLLIN | POLLHUP | POLLERR)))
			n += conn_read(s, c);
		if (c->fd >= 0 && c->replying && conn_send(c))
			conn_close(c);
	}
	now = now_ms();
	for (i = 0; i < BH_CTL_CONNS; i++)
		if (s->c[i].fd >= 0 && s->c[i].deadline_ms <= now)
			expire(&s->c[i]);
	return n;
}

void bh_ctl_flush(struct bh_ctl_server *s)
{
	size_t i;

	for (i = 0; s && i < BH_CTL_CONNS; i++)
		if (s->c[i].fd >= 0 && s->c[i].replying)
			conn_send(&s->c[i]);
}

json_t *bh_ctl_call(const char *path, const json_t *req)
{
	struct sockaddr_un sa;
	json_error_t je;
	json_t *resp = NULL;
	size_t len;
	char *line;
	int fd, err, got;

	err = addr_of(path, &sa);
	if (err) {
		errno = -err;
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	/* a refused request still gets its answer: read it even after EPIPE */
	send_json(fd, req);
	shutdown(fd, SHUT_WR);
	line = read_line(fd, &len);
	err = errno;
	close(fd);
	if (line)
		resp = json_loadb(line, len, 0, &je);
	got = line != NULL;
	free(line);
	/* the daemon was reached: a reply it could not give or we cannot read
	 * is that daemon's error, never "cannot reach the daemon" */
	if (!resp)
		resp = bh_ctl_error("the daemon at %s sent %s (%s): see its log", path,
				    got ? "a reply that is not JSON" : "no reply",
				    got ? je.text : strerror(err ? err : EPIPE));
	return resp;
}
