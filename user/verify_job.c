// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon's periodic verify (verify_job.h): fork + exec of
 * /proc/self/exe verify --json, its report read from a non-blocking pipe in
 * the daemon's poll loop, turned into `verify` and `alert` events.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "verify_job.h"

#define MAX_FAILING 20	/* failing probes named in one event */

void bh_verify_job_init(struct bh_verify_job *j, int64_t every_ms, int64_t now_ms)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->every_ms = every_ms;
	j->next_ms = now_ms + every_ms;
}

int bh_verify_job_fd(const struct bh_verify_job *j)
{
	return j->fd;
}

static void child(const struct bh_daemon_opts *o, int out)
{
	const char *argv[16];
	sigset_t none;
	int n = 0;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);	/* the daemon blocks them for signalfd */
	dup2(out, STDOUT_FILENO);
	argv[n++] = "bulkhead";
	argv[n++] = "verify";
	argv[n++] = "--json";
	argv[n++] = "--quiet";
	argv[n++] = "--policy";
	argv[n++] = o->policy;
	argv[n++] = "--pin-dir";
	argv[n++] = o->pin_dir;
	argv[n++] = "--control";
	argv[n++] = o->control;
	argv[n++] = "--log-dir";
	argv[n++] = o->log_dir ? o->log_dir : "/nonexistent";
	argv[n] = NULL;
	execv("/proc/self/exe", (char *const *)argv);
	_exit(2);
}

void bh_verify_job_tick(struct bh_verify_job *j, const struct bh_daemon_opts *o, int64_t now_ms)
{
	int fds[2];

	if (!j->every_ms || j->pid || now_ms < j->next_ms)
		return;
	j->next_ms = now_ms + j->every_ms;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		pr_warn("verify-every: pipe: %s\n", strerror(errno));
		return;
	}
	j->pid = fork();
	if (!j->pid)
		child(o, fds[1]);
	close(fds[1]);
	if (j->pid < 0) {
		pr_warn("verify-every: fork: %s\n", strerror(errno));
		j->pid = 0;
		close(fds[0]);
		return;
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	j->fd = fds[0];
	j->len = 0;
	j->started_ms = now_ms;
}

/* The probes of partner result p that are not as expected, by name. */
static json_t *failing(const json_t *p)
{
	const json_t *pr = json_object_get(p, "probes");
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < json_array_size(pr) && json_array_size(arr) < MAX_FAILING; i++) {
		const json_t *q = json_array_get(pr, i);

		if (!json_is_true(json_object_get(q, "ok")))
			json_array_append_new(arr, json_pack("{s:O, s:O, s:O, s:O, s:O}",
				"probe", json_object_get(q, "probe"), "what", json_object_get(q, "what"),
				"expected", json_object_get(q, "expected"),
				"kernel", json_object_get(q, "kernel"), "rule", json_object_get(q, "rule")));
	}
	return arr;
}

static void emit(struct bh_writer *w, const char *partner, json_t *ev, int wrong)
{
	if (wrong) {
		json_t *a = bh_alert_json(ev, "verify_failed");

		if (a)
			json_object_set_new(a, "rule", json_string("verify_failed"));
		bh_writer_emit_both(w, partner, a);
	}
	bh_writer_emit_both(w, partner, ev);
}

/* One verify event per partner; the proofs ride on the first partner's. */
static void report(struct bh_writer *w, const json_t *r, int st, int64_t ms)
{
	const json_t *parts = json_object_get(r, "partners");
	size_t i, n = 0;

	if (!r || st == 2) {
		json_t *ev = bh_event_new("verify", NULL);

		json_object_set_new(ev, "ok", json_false());
		json_object_set_new(ev, "error", json_string("verify could not run (exit 2): "
							     "see the daemon's stderr"));
		json_object_set_new(ev, "duration_ms", json_integer(ms));
		emit(w, NULL, ev, 1);
		return;
	}
	for (i = 0; i < json_array_size(parts); i++) {
		const json_t *p = json_array_get(parts, i), *pr = json_object_get(p, "probes");
		const char *name = json_string_value(json_object_get(p, "partner"));
		json_t *ev = bh_event_new("verify", name), *fail = failing(p);
		size_t j, ok = 0, wrong = 0;

		for (j = 0; j < json_array_size(pr); j++)
			ok += json_is_true(json_object_get(json_array_get(pr, j), "ok"));
		wrong = json_array_size(pr) - ok;
		json_object_set_new(ev, "probes", json_integer((json_int_t)json_array_size(pr)));
		json_object_set_new(ev, "as_expected", json_integer((json_int_t)ok));
		json_object_set_new(ev, "wrong", json_integer((json_int_t)wrong));
		json_object_set_new(ev, "not_run", json_incref(json_object_get(p, "not_run")));
		if (json_object_get(p, "skipped"))
			json_object_set_new(ev, "skipped", json_incref(json_object_get(p, "skipped")));
		json_object_set_new(ev, "failing", fail);
		if (!n++ && json_array_size(json_object_get(r, "proofs"))) {
			json_object_set_new(ev, "proofs", json_incref(json_object_get(r, "proofs")));
			wrong += st == 1 && !wrong;	/* a failed proof is wrong too */
		}
		json_object_set_new(ev, "summary", json_incref(json_object_get(r, "summary")));
		json_object_set_new(ev, "duration_ms", json_integer(ms));
		json_object_set_new(ev, "ok", json_boolean(!wrong));
		emit(w, name, ev, wrong > 0);
	}
}

void bh_verify_job_read(struct bh_verify_job *j, struct bh_writer *w, int64_t now_ms)
{
	json_t *r;
	ssize_t got;
	int st = 0;

	for (;;) {
		if (j->len + 4096 > j->cap) {
			size_t cap = j->cap ? 2 * j->cap : 65536;
			char *n = realloc(j->out, cap);

			if (!n)
				break;
			j->out = n;
			j->cap = cap;
		}
		got = read(j->fd, j->out + j->len, j->cap - j->len - 1);
		if (got > 0) {
			j->len += (size_t)got;
			continue;
		}
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;	/* end of the report */
	}
	close(j->fd);
	j->fd = -1;
	while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
		;
	j->pid = 0;
	j->out[j->len] = '\0';
	r = json_loads(j->out, 0, NULL);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
	report(w, r, st, now_ms - j->started_ms);
	json_decref(r);
	if (st == 0) {	/* bulkhead_verify_last_success_timestamp_seconds */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		j->ok_unix_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
}

void bh_verify_job_stop(struct bh_verify_job *j)
{
	struct timespec ts = { 0, 10000000 };
	int i, st;

	if (j->pid) {
		kill(j->pid, SIGTERM);
		for (i = 0; i < 500 && waitpid(j->pid, &st, WNOHANG) == 0; i++)
			nanosleep(&ts, NULL);
		if (i == 500) {	/* 5 s: its bounded revoke and cleanup */
			kill(j->pid, SIGKILL);
			waitpid(j->pid, &st, 0);
		}
		j->pid = 0;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->out);
	j->out = NULL;
}
