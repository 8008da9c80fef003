/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* systemd's readiness protocol (sd_notify): READY/RELOADING/STOPPING/STATUS. */
#ifndef BULKHEAD_NOTIFY_H
#define BULKHEAD_NOTIFY_H

/*
 * Each call sends one datagram to $NOTIFY_SOCKET and returns 0, or 0 when the
 * variable is unset (not run by a service manager), or -errno (logged once
 * here: a service manager that cannot be told is worth a warning, never a
 * reason to stop enforcing).
 */
int bh_notify_ready(const char *status);	/* READY=1 (+ STATUS= when non-NULL) */
int bh_notify_reloading(void);			/* RELOADING=1 + MONOTONIC_USEC= */
int bh_notify_stopping(void);			/* STOPPING=1 */
int bh_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The message as given (lines "KEY=VALUE\n"), for the calls above and tests. */
int bh_notify_send(const char *msg);

#endif
