// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Positions of values in an already parsed JSON text; see jpos.h for why.
 * The text is known to be valid (jansson accepted it), so the scanner only
 * needs to find token boundaries, not to validate: a string holds no raw
 * newline (jansson rejects control characters in strings), and a skipped
 * value is stepped over by counting brackets outside strings.
 *
 * Columns are counted lazily, only where a position is asked for, from the
 * last place they were counted (or the start of the line): every byte is
 * counted at most once, however long the lines.
 */
#include <errno.h>
#include <string.h>
#include "jpos.h"

struct scan {
	const char *t;
	size_t len, i;
	int line;
	size_t bol;		/* offset of the first byte of the current line */
	size_t coff;		/* columns are counted up to this offset: */
	int col;		/* characters in [bol, coff) */
	jpos_cb cb;
	void *arg;
	int bad;
};

static inline int peek(const struct scan *s)
{
	return s->i < s->len ? (unsigned char)s->t[s->i] : -1;
}

static struct jpos here(struct scan *s)
{
	if (s->coff < s->bol) {
		s->coff = s->bol;
		s->col = 0;
	}
	for (; s->coff < s->i; s->coff++)
		s->col += ((unsigned char)s->t[s->coff] & 0xc0) != 0x80;
	return (struct jpos){ .line = s->line, .col = s->col + 1 };
}

static void skip_ws(struct scan *s)
{
	for (;;) {
		switch (peek(s)) {
		case '\n':
			s->line++;
			s->bol = ++s->i;
			break;
		case ' ':
		case '\t':
		case '\r':
			s->i++;
			break;
		default:
			return;
		}
	}
}

/* At the opening quote; stops after the closing one. */
static void skip_string(struct scan *s)
{
	const char *t = s->t, *q;
	size_t from = s->i + 1;

	while ((q = memchr(t + from, '"', s->len - from))) {
		size_t bs = 0;

		while (t[q - t - 1 - bs] == '\\')	/* stops at the opening quote */
			bs++;
		from = (size_t)(q - t) + 1;
		if (bs % 2 == 0) {
			s->i = from;
			return;
		}
	}
	s->i = s->len;
	s->bad = 1;
}

static void skip_scalar(struct scan *s)
{
	for (;;) {
		switch (peek(s)) {
		case -1: case ',': case ']': case '}':
		case ' ': case '\t': case '\n': case '\r':
			return;
		default:
			s->i++;
		}
	}
}

/* The bytes a container skip stops at; everything else is stepped over. */
static const unsigned char stops[256] = {
	['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1, ['\n'] = 1,
};

/* Step over the value at s->i, whatever it holds. */
static void skip_value(struct scan *s)
{
	const unsigned char *t = (const unsigned char *)s->t;
	int depth = 0;

	switch (peek(s)) {
	case '"':
		skip_string(s);
		return;
	case '{':
	case '[':
		break;
	default:
		skip_scalar(s);
		return;
	}
	while (s->i < s->len) {
		if (!stops[t[s->i]]) {
			s->i++;
			continue;
		}
		switch (t[s->i]) {
		case '"':
			skip_string(s);
			continue;
		case '\n':
			s->line++;
			s->bol = s->i + 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		default:
			if (--depth == 0) {
				s->i++;
				return;
			}
		}
		s->i++;
	}
	s->bad = 1;
}

static int expect(struct scan *s, int c)
{
	skip_ws(s);
	if (peek(s) != c) {
		s->bad = 1;
		return 0;
	}
	s->i++;
	return 1;
}

static int walk_value(struct scan *s, const json_t *parent, const char *key,
		      size_t idx, const json_t *val, int depth, struct jpos kpos)
{
	size_t n = 0;
	void *it;
	int r;

	skip_ws(s);
	switch (s->cb(s->arg, parent, key, idx, val, depth, kpos, here(s))) {
	case JPOS_STOP:
		return 1;
	case JPOS_SKIP:
		skip_value(s);
		return 0;
	case JPOS_ENTER:
		break;
	}

	switch (json_typeof(val)) {
	case JSON_OBJECT:
		if (!expect(s, '{'))
			return 0;
		it = json_object_iter((json_t *)val);
		for (skip_ws(s); peek(s) != '}'; skip_ws(s)) {
			if (n++ && !expect(s, ','))
				return 0;
			skip_ws(s);
			kpos = here(s);
			if (peek(s) != '"' || !it) {
				s->bad = 1;
				return 0;
			}
			skip_string(s);
			if (!expect(s, ':'))
				return 0;
			r = walk_value(s, val, json_object_iter_key(it), 0,
				       json_object_iter_value(it), depth + 1, kpos);
			if (r || s->bad)
				return r;
			it = json_object_iter_next((json_t *)val, it);
		}
		s->i++;
		if (it)
			s->bad = 1;
		return 0;
	case JSON_ARRAY:
		if (!expect(s, '['))
			return 0;
		for (skip_ws(s); peek(s) != ']'; skip_ws(s)) {
			if (n && !expect(s, ','))
				return 0;
			if (n >= json_array_size(val)) {
				s->bad = 1;
				return 0;
			}
			r = walk_value(s, val, NULL, n, json_array_get(val, n),
				       depth + 1, (struct jpos){ 0, 0 });
			if (r || s->bad)
				return r;
			n++;
		}
		s->i++;
		if (n != json_array_size(val))
			s->bad = 1;
		return 0;
	case JSON_STRING:
		if (peek(s) != '"')
			s->bad = 1;
		else
			skip_string(s);
		return 0;
	default:
		if (peek(s) < 0 || strchr("{[\"", peek(s)))
			s->bad = 1;
		else
			skip_scalar(s);
		return 0;
	}
}

int jpos_walk(const struct jpos_src *src, jpos_cb cb, void *arg)
{
	struct scan s = {
		.t = src->text, .len = src->len, .line = 1, .cb = cb, .arg = arg,
	};
	int r;

	r = walk_value(&s, NULL, NULL, 0, src->root, 0, (struct jpos){ 0, 0 });
	if (r)
		return 1;
	return s.bad ? -EINVAL : 0;
}

struct find {
	struct jpos_want *w;
	size_t n, left;
};

static int want_is(const struct jpos_want *w, const json_t *parent, const char *key,
		   size_t idx, int depth)
{
	if (!w->parent)
		return depth == 0;
	if (parent != w->parent)
		return 0;
	return w->key ? key && !strcmp(key, w->key) : !key && idx == w->idx;
}

static enum jpos_next find_cb(void *arg, const json_t *parent, const char *key, size_t idx,
			      const json_t *val, int depth, struct jpos kpos, struct jpos vpos)
{
	struct find *f = arg;

	(void)val;
	for (size_t i = 0; i < f->n; i++) {
		struct jpos_want *w = &f->w[i];

		if (w->found || !want_is(w, parent, key, idx, depth))
			continue;
		w->kpos = kpos;
		w->vpos = vpos;
		w->found = 1;
		f->left--;
	}
	return f->left ? JPOS_ENTER : JPOS_STOP;
}

size_t jpos_find(const struct jpos_src *src, struct jpos_want *w, size_t n)
{
	struct find f = { .w = w, .n = n, .left = n };

	for (size_t i = 0; i < n; i++)
		w[i].found = 0;
	if (n)
		jpos_walk(src, find_cb, &f);
	return n - f.left;
}

struct jpos jpos_at_offset(const char *text, size_t len, size_t off)
{
	struct scan s = { .t = text, .len = len, .line = 1 };

	if (off > len)
		off = len;
	for (; s.i < off; s.i++) {
		if (text[s.i] == '\n') {
			s.line++;
			s.bol = s.i + 1;
		}
	}
	return here(&s);
}
