/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Control socket: a Unix stream socket, root-only (mode 0600 in a 0700
 * directory) unless --control-group/--read-group open it to groups. One JSON
 * request line in, one JSON response line out.
 */
#ifndef BULKHEAD_CONTROL_H
#define BULKHEAD_CONTROL_H

#include <sys/types.h>
#include <jansson.h>

#define BH_DEFAULT_CONTROL "/run/bulkhead/control.sock"

/* A request is at most BH_CTL_MAX bytes, all of it within BH_CTL_TIMEOUT_MS
 * of the connect (and its reply read within as long again); at most
 * BH_CTL_CONNS connections are open at once. */
#define BH_CTL_MAX (16 << 20)
#define BH_CTL_TIMEOUT_MS 5000
#define BH_CTL_CONNS 64
#define BH_CTL_NFDS (1 + BH_CTL_CONNS)	/* bh_ctl_pollfds */

/* What a peer may do: root everything; the --control-group what root may;
 * the --read-group only the read-only operations (ops.c). */
enum bh_peer_role { BH_PEER_NONE, BH_PEER_READ, BH_PEER_CONTROL, BH_PEER_ROOT };

struct bh_peer {
	uid_t uid;
	pid_t pid;
	char comm[64];		/* sanitised /proc/PID/comm */
	int role;		/* enum bh_peer_role */
};

/* Who besides root reaches the socket (names NULL: nobody). */
struct bh_ctl_access {
	const char *control_name, *read_name;
	gid_t control_gid, read_gid;
};

/* Response object for a request from peer (caller-owned request). */
typedef json_t *(*bh_ctl_handler)(void *ctx, const json_t *req, const struct bh_peer *peer);

/* The pid of the live daemon answering on path (-1: one answers, its pid
 * unknown), or 0 when none does (no socket, or a stale one). */
int bh_ctl_owner(const char *path);
/* The lock PATH.lock of control socket path, held for the daemon's life: its
 * fd, or -EADDRINUSE (*holder: the daemon holding it, 0 if unknown) or
 * another -errno. A killed daemon's lock is free again. */
int bh_ctl_lock(const char *path, int *holder);

/* The server: the listening socket at path (replacing a stale one; hold
 * bh_ctl_lock first), mode 0600 root or 0660 for the groups of acc. Every
 * connection is non-blocking: a slow or silent client never holds the
 * daemon's loop, it gets an error at its deadline. 0 or -errno. */
struct bh_ctl_server;
int bh_ctl_server_open(struct bh_ctl_server **s, const char *path,
		       const struct bh_ctl_access *acc, bh_ctl_handler h, void *ctx);
/* Fill pfd[0..BH_CTL_NFDS-1] for poll(2) (unused slots have fd -1). */
struct pollfd;
void bh_ctl_pollfds(const struct bh_ctl_server *s, struct pollfd *pfd);
/* timeout (ms, -1 none) shortened to the next connection deadline. */
int bh_ctl_timeout(const struct bh_ctl_server *s, int timeout);
/* After poll: accept, read, answer, send, expire. Requests answered. */
int bh_ctl_serve(struct bh_ctl_server *s, const struct pollfd *pfd);
/* Send what the sockets take of pending replies (before exiting). */
void bh_ctl_flush(struct bh_ctl_server *s);
/* Close every connection and the socket, remove the socket file. */
void bh_ctl_server_close(struct bh_ctl_server *s);

/* Client: send req (not consumed), return the response or NULL with errno
 * set (ENOENT/ECONNREFUSED: no daemon). */
json_t *bh_ctl_call(const char *path, const json_t *req);

/* {"ok": false, "error": msg} */
json_t *bh_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
