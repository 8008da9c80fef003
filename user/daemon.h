/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The foreground daemon (daemon.c): setup, the loop, teardown. */
#ifndef BULKHEAD_DAEMON_H
#define BULKHEAD_DAEMON_H

struct bh_daemon_opts {
	const char *policy;
	const char *pin_dir;
	const char *control;		/* control socket path */
	const char *log_dir;		/* NULL: stdout only */
	int log_dir_set;		/* given explicitly (kept with --stdout) */
	int to_stdout;
	unsigned int flow_interval_s;	/* flow summaries; 0 = off */
	unsigned int ring_size_kib;	/* 0 = default */
	int no_destroy;			/* keep sockets a revocation cut off */
	int no_bind_tp;			/* rescan mode even where binding at creation works */
	long long verify_every_ms;	/* run `bulkhead verify` this often; 0 = never */
	const char *metrics_file;	/* Prometheus text, rewritten every second; NULL: off */
	const char *metrics_listen;	/* ADDR:PORT serving GET /metrics; NULL: off */
	int metrics_any_addr;		/* serve it on a non-loopback address too */
};

/* Returns the process exit code. */
int bh_daemon_run(const struct bh_daemon_opts *o);

#endif
