// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Error collection (errors.h): the bounded list of "file:line:column: reason"
 * messages, their sort into file order, and the quoting of values shown in
 * them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "errors.h"
#include "text.h"

void bh_errors_add(struct bh_errors *e, const char *fmt, ...)
{
	char *m = NULL, **v;
	va_list ap;
	int r;

	if (e->n >= BH_MAX_ERRORS) {
		e->more++;
		return;
	}
	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (r < 0) {
		e->more++;
		return;
	}
	v = realloc(e->msg, (e->n + 1) * sizeof(*v));
	if (!v) {
		free(m);
		e->more++;
		return;
	}
	v[e->n++] = m;
	e->msg = v;
}

void bh_errors_free(struct bh_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

struct epos {
	int line, col;
	size_t idx;
	char *msg;
};

static int epos_cmp(const void *x, const void *y)
{
	const struct epos *a = x, *b = y;

	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

void bh_errors_sort(struct bh_errors *e, size_t from, const char *name)
{
	size_t n = e->n - from, nl = strlen(name), i;
	struct epos *v;

	if (n < 2)
		return;
	v = calloc(n, sizeof(*v));
	if (!v)
		return;		/* discovery order is still correct, just less tidy */
	for (i = 0; i < n; i++) {
		char *m = e->msg[from + i];

		v[i].idx = i;
		v[i].msg = m;
		if (strncmp(m, name, nl) || sscanf(m + nl, ":%d:%d:", &v[i].line, &v[i].col) != 2)
			v[i].line = v[i].col = 0;
	}
	qsort(v, n, sizeof(*v), epos_cmp);
	for (i = 0; i < n; i++)
		e->msg[from + i] = v[i].msg;
	free(v);
}

const char *bh_quote(const char *s, char *buf)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t o = 0, i = 0, n;

	buf[o++] = '"';
	/* at most 64 bytes of s, whole characters only, each written in at most
	 * 4 bytes (a byte of no valid sequence as \xNN): 2 + 256 + 3 + 1 fit */
	for (; u[i] && i < 64; i += n) {
		n = bh_utf8_len(u + i, strnlen(s + i, 4));
		if (i + n > 64)
			break;
		if (n > 1) {
			memcpy(buf + o, s + i, n);
			o += n;
		} else if (u[i] == '"' || u[i] == '\\') {
			buf[o++] = '\\';
			buf[o++] = s[i];
		} else if (!n || u[i] < 0x20 || u[i] == 0x7f) {
			o += (size_t)snprintf(buf + o, BH_QUOTE_LEN - o, "\\x%02x", u[i]);
			n = 1;
		} else {
			buf[o++] = s[i];
		}
	}
	if (u[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
