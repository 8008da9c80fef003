/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Control socket: a root-only Unix stream socket (mode 0600 in a 0700
 * directory). One JSON request line in, one JSON response line out.
 */
#ifndef BULKHEAD_CONTROL_H
#define BULKHEAD_CONTROL_H

#include <sys/types.h>
#include <jansson.h>

#define BH_DEFAULT_CONTROL "/run/bulkhead/control.sock"

struct bh_peer {
	uid_t uid;
	pid_t pid;
	char comm[64];		/* sanitised /proc/PID/comm */
};

/* Response object for a request from peer (caller-owned request). */
typedef json_t *(*bh_ctl_handler)(void *ctx, const json_t *req, const struct bh_peer *peer);

/* The pid of the live daemon answering on path (-1: one answers, its pid
 * unknown), or 0 when none does (no socket, or a stale one). */
int bh_ctl_owner(const char *path);
/* Create the listening socket at path (replacing a stale one). fd or -errno. */
int bh_ctl_listen(const char *path);
/* Accept one connection and answer it. Non-root peers get an error response.
 * Never blocks longer than a second on a slow client. */
void bh_ctl_serve_one(int lfd, bh_ctl_handler h, void *ctx);
void bh_ctl_close(int lfd, const char *path);

/* Client: send req (not consumed), return the response or NULL with errno
 * set (ENOENT/ECONNREFUSED: no daemon). */
json_t *bh_ctl_call(const char *path, const json_t *req);

/* {"ok": false, "error": msg} */
json_t *bh_ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
