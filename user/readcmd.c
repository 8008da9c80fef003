// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The daemon runs status, why or reach for a non-root caller (readcmd.h): the
 * arguments checked (no option but --json: the pin directory is the
 * daemon's, no file is read for the caller), a forked child runs the
 * command, its output and exit status are captured within a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "errors.h"
#include "readcmd.h"
#include "reach.h"
#include "status.h"
#include "text.h"
#include "why.h"

#define BH_READ_OUT_MAX (4 << 20)
#define BH_READ_DEADLINE_MS 5000

const char *const bh_readcmd_names[] = { "status", "why", "reach", NULL };

static int run_status(int argc, char **argv)
{
	int i, json = 0;

	for (i = 1; i < argc - 2; i++)	/* argv: status [--json]... --pin-dir DIR */
		json |= !strcmp(argv[i], "--json") || !strcmp(argv[i], "-j");
	return bh_status(argv[argc - 1], json);
}

static int (*const cmd_fn[])(int, char **) = { run_status, bh_cmd_why, bh_cmd_reach };

struct capture {
	char *buf;
	size_t len;
};

/* Read both pipes to EOF (or the deadline; the child is then killed). */
static int drain(int fds[2], struct capture cap[2], pid_t pid)
{
	struct timespec t0, t;
	int open_n = 2, timed_out = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (open_n && !timed_out) {
		struct pollfd p[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
		int i, left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = BH_READ_DEADLINE_MS - (int)((t.tv_sec - t0.tv_sec) * 1000 +
						   (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(p, 2, left) == 0) {
			timed_out = 1;
			break;
		}
		for (i = 0; i < 2; i++) {
			char chunk[65536];
			ssize_t r;

			if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(fds[i], chunk, sizeof(chunk));
			if (r > 0 && cap[i].len + r <= BH_READ_OUT_MAX) {
				char *nb = realloc(cap[i].buf, cap[i].len + r + 1);

				if (nb) {
					memcpy(nb + cap[i].len, chunk, r);
					cap[i].buf = nb;
					cap[i].len += r;
				}
			}
			if (r == 0 || (r < 0 && errno != EINTR)) {
				close(fds[i]);
				fds[i] = -1;
				open_n--;
			}
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	return timed_out ? -ETIMEDOUT : 0;
}

/* The output as a JSON string: as printed (lines and all) when it is UTF-8,
 * else sanitised. */
static json_t *text_json(const struct capture *c)
{
	size_t n = c->len * 3 + 1;
	json_t *s = json_stringn(c->buf ? c->buf : "", c->len);
	char *out;

	if (s)
		return s;
	out = malloc(n);
	s = json_string(out ? bh_sanitize((const uint8_t *)c->buf, c->len, out, n) : "");
	free(out);
	return s;
}

/* argv for the child: cmd, args..., --pin-dir, pin_dir, NULL. */
static json_t *run(int idx, char **argv, int argc)
{
	struct capture cap[2] = { { NULL, 0 }, { NULL, 0 } };
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, fds[2], st = 0, tmo;
	json_t *resp;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		resp = bh_ctl_error("read: cannot make a pipe: %s", strerror(errno));
		goto done;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		resp = bh_ctl_error("read: cannot fork: %s", strerror(errno));
		goto done;
	}
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		st = cmd_fn[idx](argc, argv);
		fflush(NULL);
		_exit(st & 0xff);
	}
	close(out[1]);
	close(err[1]);
	out[1] = err[1] = -1;
	fds[0] = out[0];
	fds[1] = err[0];
	out[0] = err[0] = -1;
	tmo = drain(fds, cap, pid);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (tmo)
		resp = bh_ctl_error("read: `%s` took longer than %d ms", argv[0],
				    BH_READ_DEADLINE_MS);
	else
		resp = json_pack("{s:b, s:i, s:o, s:o}", "ok", 1, "exit",
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
				 "stdout", text_json(&cap[0]), "stderr", text_json(&cap[1]));
done:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		free(cap[i].buf);
	}
	return resp;
}

json_t *bh_readcmd_run(const char *pin_dir, const json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	const json_t *args = json_object_get(req, "args");
	char **argv;
	json_t *resp;
	size_t i, n;
	int idx;

	for (idx = 0; cmd && bh_readcmd_names[idx] && strcmp(cmd, bh_readcmd_names[idx]); idx++)
		;
	if (!cmd || !bh_readcmd_names[idx])
		return bh_ctl_error("bad request: read needs \"cmd\": status, why or reach");
	if (args && !json_is_array(args))
		return bh_ctl_error("bad request: read's \"args\" must be an array of strings");
	n = json_array_size(args);
	for (i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(args, i));

		if (!a)
			return bh_ctl_error("bad request: read's \"args\" must be an array of strings");
		if (idx == 0 && a[0] != '-')
			return bh_ctl_error("status: takes no arguments but --json");
		if (a[0] == '-' && strcmp(a, "--json") && strcmp(a, "-j"))
			return bh_ctl_error("%s: option %s is not available through the daemon (a "
					    "caller who is not root gets the daemon's pin directory "
					    "and --json only)", cmd, BH_Q(a));
	}
	argv = calloc(n + 4, sizeof(*argv));
	if (!argv)
		return bh_ctl_error("out of memory");
	argv[0] = (char *)cmd;
	for (i = 0; i < n; i++)
		argv[1 + i] = (char *)json_string_value(json_array_get(args, i));
	argv[n + 1] = "--pin-dir";
	argv[n + 2] = (char *)pin_dir;
	resp = run(idx, argv, (int)n + 3);
	free(argv);
	return resp;
}
