// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Control socket: framing, credentials, timeouts. Requests are answered by
 * ops.c (the {op, handler} table). */
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
#include <unistd.h>
#include "control.h"
#include "events.h"
#include "log.h"
#include "text.h"

#define BH_CTL_MAX (16 << 20)
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

int bh_ctl_listen(const char *path)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd, err;
	mode_t old;

	err = addr_of(path, &sa);
	if (err)
		return err;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);	/* a stale socket of a killed daemon; the pin lock makes us the only one */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && chmod(path, 0600))
		err = -errno;
	if (!err && listen(fd, 16))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

void bh_ctl_close(int lfd, const char *path)
{
	if (lfd < 0)
		return;
	close(lfd);
	unlink(path);
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

void bh_ctl_serve_one(int lfd, bh_ctl_handler h, void *ctx)
{
	struct timeval tv = { .tv_sec = 1 };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct bh_peer peer = {};
	json_t *req = NULL, *resp;
	json_error_t je;
	size_t len;
	char *line;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		close(fd);
		return;
	}
	peer.uid = cred.uid;
	peer.pid = cred.pid;
	peer_comm(cred.pid, peer.comm, sizeof(peer.comm));
	line = read_line(fd, &len);	/* read first, so a refusal is always heard */
	if (cred.uid != 0) {
		/* the socket is 0600 root, so this is a descriptor passed on or a
		 * changed mode: refuse and say so; the request is not looked at */
		pr_warn("control: refused uid %u pid %d (%s): not root\n", cred.uid, cred.pid,
			peer.comm);
		free(line);
		resp = bh_ctl_error("permission denied: the control socket is for root only");
		goto reply;
	}
	if (line)
		req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	free(line);
	if (!req || !json_is_object(req))
		resp = bh_ctl_error("bad request: one JSON object per line expected");
	else
		resp = h(ctx, req, &peer);
reply:
	/* never nothing: a response jansson cannot build or encode still gets
	 * a reply the client can read */
	if (!resp || send_json(fd, resp) == -ENOMEM)
		write_all(fd, BH_CTL_UNENCODABLE, strlen(BH_CTL_UNENCODABLE));
	json_decref(resp);
	json_decref(req);
	close(fd);
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
