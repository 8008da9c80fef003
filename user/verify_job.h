/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead run --verify-every DURATION`: the daemon runs `bulkhead verify`
 * (its own binary, forked and exec'd, so the daemon's loop keeps serving the
 * control socket the revocation proof talks to), reads its JSON report
 * without blocking, and writes one `verify` event per partner (its file and
 * host.jsonl) plus an `alert` (rule "verify_failed") for any wrong result.
 */
#ifndef BULKHEAD_VERIFY_JOB_H
#define BULKHEAD_VERIFY_JOB_H

#include <stdint.h>
#include <sys/types.h>

struct bh_daemon_opts;
struct bh_writer;

struct bh_verify_job {
	int64_t every_ms;	/* 0: off */
	int64_t next_ms;	/* CLOCK_MONOTONIC ms of the next run */
	pid_t pid;		/* running child, 0: none */
	int fd;			/* its stdout, -1: none */
	char *out;
	size_t len, cap;
	int64_t started_ms;
	int64_t ok_unix_ns;	/* CLOCK_REALTIME of the last run with every probe and proof as expected; 0: none */
};

void bh_verify_job_init(struct bh_verify_job *j, int64_t every_ms, int64_t now_ms);
/* Start a run when one is due and none runs. */
void bh_verify_job_tick(struct bh_verify_job *j, const struct bh_daemon_opts *o, int64_t now_ms);
/* Its stdout to poll, or -1. */
int bh_verify_job_fd(const struct bh_verify_job *j);
/* Read what is there; at the end of the report, write the events. */
void bh_verify_job_read(struct bh_verify_job *j, struct bh_writer *w, int64_t now_ms);
/* Stop a run (SIGTERM: it removes what it made), reap it. */
void bh_verify_job_stop(struct bh_verify_job *j);

#endif
