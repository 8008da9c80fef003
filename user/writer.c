// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Event writer: JSON Lines to LOGDIR/<partner>.jsonl and LOGDIR/host.jsonl,
 * or to stdout (docs/events.md, "Files").
 *
 * - Lines are buffered per file and written whole, one write(2)/writev(2)
 *   per batch: a line is never split between two calls, so lines do not
 *   interleave, and a line torn by a failing write is cut off again (or,
 *   where that is impossible, closed by a newline before the next line).
 * - A failing write never blocks nor aborts: its lines are dropped and
 *   counted (stats.failed). The next successful write of that file starts
 *   with a "loss" line for them, and host.jsonl gets one for every file.
 * - Files are opened lazily (O_APPEND|O_CREAT|O_CLOEXEC|O_NOFOLLOW, 0640)
 *   and kept open. A file whose link count dropped to 0 (deleted, or its
 *   directory removed) is reopened before the next write; reopen (SIGHUP)
 *   closes everything and recreates LOGDIR if needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "events.h"
#include "log.h"

#define BH_WRITER_FLUSH_AT (64 * 1024)	/* write a file's buffer beyond this */
#define BH_WRITER_BUCKETS 256
#define BH_LOSS_LINE_MAX 512

struct bh_file {
	char *name;		/* partner name; NULL for host.jsonl and stdout */
	int fd;			/* -1: not open (opened on the next write) */
	int is_stdout;
	char *buf;		/* whole lines, each ending in '\n' */
	size_t len, cap, nlines;
	uint64_t failed, reported;	/* this file's lost lines, and how many reported */
	int last_err;		/* errno of the last failure */
	int torn;		/* a partial line may end the file: start with '\n' */
	uint64_t used;		/* writer tick of the last line, for closing the LRU */
	struct bh_file *next;	/* hash chain */
};

struct bh_writer {
	char *dir;		/* NULL: stdout only */
	struct bh_file host;	/* LOGDIR/host.jsonl */
	struct bh_file out;	/* stdout, when to_stdout */
	int to_stdout;
	struct bh_file *bucket[BH_WRITER_BUCKETS];
	struct bh_file *last;	/* last partner file used */
	struct bh_writer_stats st;
	int last_err;
	uint64_t tick;
};

static void file_init(struct bh_file *f, char *name)
{
	memset(f, 0, sizeof(*f));
	f->name = name;
	f->fd = -1;
}

/* [A-Za-z0-9._-]+, not starting with '.', short enough for a file name,
 * and not "host" (that is host.jsonl). */
static int name_ok(const char *s)
{
	size_t n = 0;

	if (!s || !*s || *s == '.' || !strcmp(s, "host"))
		return 0;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
		if (n >= NAME_MAX - sizeof(".jsonl"))
			return 0;
	}
	return 1;
}

static unsigned int hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % BH_WRITER_BUCKETS;
}

int bh_make_dir(const char *dir)
{
	char p[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0750) && errno != EEXIST)
			return -errno;
		p[i] = i < n ? '/' : '\0';
	}
	return 0;
}

static void close_file(struct bh_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* Close the least recently used partner file to free a descriptor. */
static int close_lru(struct bh_writer *w, struct bh_file *keep);

static int open_file(struct bh_writer *w, struct bh_file *f)
{
	char path[PATH_MAX];
	int n, retried = 0;

	if (f->fd >= 0)
		return 0;
	n = snprintf(path, sizeof(path), "%s/%s.jsonl", w->dir, f->name ? f->name : "host");
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	for (;;) {
		int err;

		f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
				   O_NOFOLLOW, 0640);
		if (f->fd >= 0)
			return 0;
		err = -errno;
		/* out of descriptors: give up the least recently used file, once */
		if ((err != -EMFILE && err != -ENFILE) || retried++ || close_lru(w, f))
			return err;
	}
}

/* Writes iov fully unless an error stops it; returns the bytes written and
 * sets *err (0 when everything was written). Short writes are continued;
 * EINTR is retried; anything else (EAGAIN included) stops: never block. */
static size_t write_iov(int fd, struct iovec *iov, int cnt, int *err)
{
	size_t done = 0;

	*err = 0;
	while (cnt > 0) {
		ssize_t r = writev(fd, iov, cnt);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err = errno;
			return done;
		}
		if (r == 0) {
			*err = EIO;
			return done;
		}
		done += r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= r;
		}
	}
	return done;
}

/* The file that gets the writer-wide loss reports: host.jsonl, or stdout
 * when there is no LOGDIR. */
static struct bh_file *primary(struct bh_writer *w)
{
	return w->dir ? &w->host : &w->out;
}

/* The "loss" line for lines of f (or, for the primary file, of every file)
 * that were not written. Returns its length, 0 when nothing is pending. */
static size_t loss_line(struct bh_writer *w, struct bh_file *f, char *buf, size_t len,
			uint64_t *count)
{
	int is_primary = f == primary(w);
	uint64_t n = is_primary ? w->st.failed - w->st.failed_reported : f->failed - f->reported;
	json_t *o;
	size_t k;

	*count = n;
	if (!n)
		return 0;
	o = bh_event_log_loss(is_primary ? NULL : f->name,
			      n, strerror(is_primary ? w->last_err : f->last_err));
	if (!o)
		return 0;
	k = json_dumpb(o, buf, len - 1, JSON_COMPACT);
	json_decref(o);
	if (!k || k >= len - 1)
		return 0;
	buf[k++] = '\n';
	return k;
}

static void count_failed(struct bh_writer *w, struct bh_file *f, uint64_t lines, int err)
{
	f->failed += lines;
	f->last_err = err;
	w->st.failed += lines;
	w->last_err = err;
}

/* Errors after which the descriptor is kept: the file is fine, the disk is not. */
static int keep_fd_after(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EAGAIN;
}

static void flush_file(struct bh_writer *w, struct bh_file *f);

/* After a successful write elsewhere: report pending losses in the primary file. */
static void report_to_primary(struct bh_writer *w, struct bh_file *from)
{
	struct bh_file *p = primary(w);

	if (from != p && w->st.failed > w->st.failed_reported)
		flush_file(w, p);
}

/* Write f's buffer (and a pending loss line before it). */
static void flush_file(struct bh_writer *w, struct bh_file *f)
{
	char loss[BH_LOSS_LINE_MAX];
	struct iovec iov[3], orig[3];
	struct stat st;
	uint64_t nloss = 0;
	size_t pre = 0, total, done, lines = 0, losslen, frag = 0;
	int cnt = 0, i, err;
	int is_primary = f == primary(w);

	if (!f->len && !(is_primary && w->st.failed > w->st.failed_reported))
		return;
	/* a file deleted under us (or its directory removed): reopen the path */
	if (f->fd >= 0 && !f->is_stdout && fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_nlink == 0)
		close_file(f);
	if (f->fd < 0 && !f->is_stdout) {
		err = open_file(w, f);
		if (err) {
			count_failed(w, f, f->nlines, -err);
			f->len = f->nlines = 0;
			return;
		}
		if (f->torn && fstat(f->fd, &st) == 0 && st.st_size == 0)
			f->torn = 0;	/* a new file: no fragment to close */
	}

	if (f->torn) {
		iov[cnt].iov_base = "\n";
		iov[cnt++].iov_len = 1;
		pre += 1;
	}
	losslen = loss_line(w, f, loss, sizeof(loss), &nloss);
	if (losslen) {
		iov[cnt].iov_base = loss;
		iov[cnt++].iov_len = losslen;
		pre += losslen;
	}
	if (f->len) {
		iov[cnt].iov_base = f->buf;
		iov[cnt++].iov_len = f->len;
	}
	total = pre + f->len;
	if (!total)
		return;
	memcpy(orig, iov, sizeof(iov));
	done = write_iov(f->fd, iov, cnt, &err);

	if (done >= pre && losslen) {
		if (is_primary) {
			w->st.failed_reported += nloss;
			f->reported = f->failed;
		} else {
			f->reported += nloss;
		}
	}
	if (!err) {
		f->torn = 0;
		w->st.lines += f->nlines;
		w->st.bytes += total;
		f->len = f->nlines = 0;
		report_to_primary(w, f);
		return;
	}

	/* Stopped part way: keep the whole lines written, cut off a torn one
	 * (or, where the file cannot be cut, close it with '\n' next time). */
	if (done > 0) {
		size_t off = 0;

		for (i = 0; i < cnt && off < done; i++) {
			size_t n = orig[i].iov_len < done - off ? orig[i].iov_len : done - off;
			const char *p = orig[i].iov_base, *nl = memrchr(p, '\n', n);

			frag = nl ? (size_t)(p + n - nl - 1) : frag + n;
			if (orig[i].iov_base == f->buf) {
				const char *q = p;

				while ((q = memchr(q, '\n', p + n - q))) {
					lines++;
					q++;
				}
			}
			off += n;
		}
		f->torn = 0;
		if (frag) {
			off_t size = f->is_stdout ? -1 : lseek(f->fd, 0, SEEK_END);

			if (size < (off_t)frag || ftruncate(f->fd, size - frag))
				f->torn = 1;
		}
		w->st.bytes += done - frag;
	}
	w->st.lines += lines;
	count_failed(w, f, f->nlines - lines, err);
	f->len = f->nlines = 0;
	if (!f->is_stdout && !keep_fd_after(err))
		close_file(f);	/* EIO, ESTALE...: try a fresh open next time */
}

static int close_lru(struct bh_writer *w, struct bh_file *keep)
{
	struct bh_file *lru = NULL, *f;
	size_t i;

	for (i = 0; i < BH_WRITER_BUCKETS; i++)
		for (f = w->bucket[i]; f; f = f->next)
			if (f != keep && f->fd >= 0 && (!lru || f->used < lru->used))
				lru = f;
	if (!lru)
		return -EMFILE;
	flush_file(w, lru);
	close_file(lru);
	return 0;
}

int bh_writer_open(struct bh_writer **wp, const char *log_dir, int to_stdout)
{
	struct bh_writer *w;
	int err;

	*wp = NULL;
	if (!log_dir && !to_stdout)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	file_init(&w->host, NULL);
	file_init(&w->out, NULL);
	w->out.is_stdout = 1;
	w->to_stdout = to_stdout;
	if (to_stdout) {
		/* a reader that went away must not kill the daemon: EPIPE is counted */
		signal(SIGPIPE, SIG_IGN);
		w->out.fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (w->out.fd < 0) {
			err = -errno;
			goto fail;
		}
	}
	if (log_dir) {
		w->dir = strdup(log_dir);
		if (!w->dir) {
			err = -ENOMEM;
			goto fail;
		}
		err = bh_make_dir(w->dir);
		if (err)
			goto fail;
		/* fail early on a directory that cannot be written */
		err = open_file(w, &w->host);
		if (err)
			goto fail;
	}
	*wp = w;
	return 0;
fail:
	bh_writer_close(w);
	return err;
}

static struct bh_file *find_file(struct bh_writer *w, const char *name, int create)
{
	unsigned int h;
	struct bh_file *f;
	char *copy;

	if (w->last && !strcmp(w->last->name, name))
		return w->last;
	h = hash_name(name);
	for (f = w->bucket[h]; f; f = f->next)
		if (!strcmp(f->name, name))
			return w->last = f;
	if (!create)
		return NULL;
	f = malloc(sizeof(*f));
	copy = strdup(name);
	if (!f || !copy) {
		free(f);
		free(copy);
		return NULL;
	}
	file_init(f, copy);
	f->next = w->bucket[h];
	w->bucket[h] = f;
	return w->last = f;
}

/* The file for partner (host.jsonl when partner is NULL or not a safe name). */
static struct bh_file *route(struct bh_writer *w, const char *partner)
{
	if (!w->dir)
		return &w->out;
	if (!name_ok(partner))
		return &w->host;
	return find_file(w, partner, 1);
}

static int grow(struct bh_file *f, size_t need)
{
	size_t cap = f->cap ? f->cap : 4096;
	char *nb;

	while (cap < need)
		cap *= 2;
	if (cap == f->cap)
		return 0;
	nb = realloc(f->buf, cap);
	if (!nb)
		return -ENOMEM;
	f->buf = nb;
	f->cap = cap;
	return 0;
}

/* Append obj as one line to f's buffer; write the buffer out past 64 KiB. */
static void append(struct bh_writer *w, struct bh_file *f, const json_t *obj)
{
	size_t n;

	if (!f) {		/* out of memory for a new partner file */
		w->st.failed++;
		w->last_err = ENOMEM;
		return;
	}
	f->used = ++w->tick;
	n = f->cap > f->len + 1 ?
		json_dumpb(obj, f->buf + f->len, f->cap - f->len - 1, JSON_COMPACT) : 0;
	if (!n || n >= f->cap - f->len) {
		/* did not fit (or no buffer yet): measure, make room, dump again */
		if (!n)
			n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
		if (!n) {
			count_failed(w, f, 1, EINVAL);	/* cannot happen with our objects */
			return;
		}
		if (f->len && f->len + n + 1 > BH_WRITER_FLUSH_AT)
			flush_file(w, f);
		if (grow(f, f->len + n + 1)) {
			count_failed(w, f, 1, ENOMEM);
			return;
		}
		json_dumpb(obj, f->buf + f->len, n, JSON_COMPACT);
	}
	f->len += n;
	f->buf[f->len++] = '\n';
	f->nlines++;
	if (f->len >= BH_WRITER_FLUSH_AT)
		flush_file(w, f);
}

/* obj is only read: a line that needs a "partner" field it lacks is
 * written from a copy. */
static void emit(struct bh_writer *w, const char *partner, const json_t *obj, int both)
{
	struct bh_file *f;
	json_t *copy = NULL;

	if (!obj)
		return;
	f = route(w, partner);
	if (f == &w->host && partner && !json_object_get(obj, "partner")) {
		char buf[256];

		/* a name unfit for a file name: keep it in the line */
		copy = json_deep_copy(obj);
		if (copy) {
			json_object_set_new(copy, "partner",
					    json_string(bh_sanitize((const uint8_t *)partner,
								    strlen(partner), buf,
								    sizeof(buf))));
			obj = copy;
		}
	}
	append(w, f, obj);
	if (both && f != &w->host && w->dir)
		append(w, &w->host, obj);
	if (w->dir && w->to_stdout)
		append(w, &w->out, obj);
	json_decref(copy);
}

void bh_writer_emit(struct bh_writer *w, const char *partner, json_t *obj)
{
	emit(w, partner, obj, 0);
	json_decref(obj);
}

void bh_writer_emit_both(struct bh_writer *w, const char *partner, json_t *obj)
{
	emit(w, partner, obj, 1);
	json_decref(obj);
}

void bh_writer_write(struct bh_writer *w, const char *partner, const json_t *obj)
{
	emit(w, partner, obj, 0);
}

void bh_writer_flush(struct bh_writer *w)
{
	struct bh_file *f;
	size_t i;

	if (!w)
		return;
	for (i = 0; i < BH_WRITER_BUCKETS; i++)
		for (f = w->bucket[i]; f; f = f->next)
			flush_file(w, f);
	if (w->dir)
		flush_file(w, &w->host);
	if (w->to_stdout)
		flush_file(w, &w->out);
}

void bh_writer_reopen(struct bh_writer *w)
{
	struct bh_file *f;
	size_t i;
	int err;

	bh_writer_flush(w);
	if (!w->dir)
		return;		/* stdout stays stdout */
	for (i = 0; i < BH_WRITER_BUCKETS; i++)
		for (f = w->bucket[i]; f; f = f->next)
			close_file(f);
	close_file(&w->host);
	err = bh_make_dir(w->dir);
	if (err)		/* lines are counted as lost until it works */
		pr_warn("event log directory %s: %s\n", w->dir, strerror(-err));
}

void bh_writer_stats(const struct bh_writer *w, struct bh_writer_stats *st)
{
	*st = w->st;
}

void bh_writer_close(struct bh_writer *w)
{
	struct bh_file *f, *next;
	size_t i;

	if (!w)
		return;
	bh_writer_flush(w);
	for (i = 0; i < BH_WRITER_BUCKETS; i++)
		for (f = w->bucket[i]; f; f = next) {
			next = f->next;
			close_file(f);
			free(f->buf);
			free(f->name);
			free(f);
		}
	close_file(&w->host);
	free(w->host.buf);
	close_file(&w->out);
	free(w->out.buf);
	free(w->dir);
	free(w);
}

int bh_writer_test_redirect(struct bh_writer *w, const char *partner, int fd)
{
	struct bh_file *f = route(w, partner);

	if (!f)
		return -ENOMEM;
	flush_file(w, f);
	close_file(f);
	f->fd = fd;
	f->torn = 0;
	return 0;
}
