// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Positions of values in an already parsed JSON text; see jpos.h for why.
 * The text is known to be valid (jansson accepted it), so the scanner only
 * needs to find token boundaries, not to validate.
 */
#include <errno.h>
#include <string.h>
#include "jpos.h"

struct scan {
	const char *t;
	size_t len, i;
	int line, ncol;		/* ncol: characters consumed on this line */
	jpos_cb cb;
	void *arg;
	int bad;
};

static inline void adv(struct scan *s)
{
	unsigned char b = (unsigned char)s->t[s->i++];

	if (b == '\n') {
		s->line++;
		s->ncol = 0;
	} else if ((b & 0xc0) != 0x80) {
		s->ncol++;
	}
}

static inline int peek(const struct scan *s)
{
	return s->i < s->len ? (unsigned char)s->t[s->i] : -1;
}

static inline struct jpos here(const struct scan *s)
{
	return (struct jpos){ .line = s->line, .col = s->ncol + 1 };
}

static void skip_ws(struct scan *s)
{
	for (int c = peek(s); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek(s))
		adv(s);
}

/* At the opening quote; stops after the closing one. */
static void skip_string(struct scan *s)
{
	adv(s);
	while (s->i < s->len && s->t[s->i] != '"') {
		if (s->t[s->i] == '\\' && s->i + 1 < s->len)
			adv(s);
		adv(s);
	}
	if (s->i < s->len)
		adv(s);
	else
		s->bad = 1;
}

static void skip_scalar(struct scan *s)
{
	for (int c = peek(s); c >= 0 && !strchr(",]} \t\n\r", c); c = peek(s))
		adv(s);
}

static int expect(struct scan *s, int c)
{
	skip_ws(s);
	if (peek(s) != c) {
		s->bad = 1;
		return 0;
	}
	adv(s);
	return 1;
}

static int walk_value(struct scan *s, const json_t *parent, const char *key,
		      size_t idx, const json_t *val, int depth, struct jpos kpos)
{
	struct jpos vpos;
	size_t n = 0;
	void *it;
	int r;

	skip_ws(s);
	vpos = here(s);
	if (s->cb(s->arg, parent, key, idx, val, depth, kpos, vpos))
		return 1;

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
		adv(s);
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
		adv(s);
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
	const json_t *parent;
	const char *key;	/* NULL: look for element idx */
	size_t idx;
	struct jpos kpos, vpos;
	int found;
};

static int find_cb(void *arg, const json_t *parent, const char *key, size_t idx,
		   const json_t *val, int depth, struct jpos kpos, struct jpos vpos)
{
	struct find *f = arg;

	(void)val;
	if (!f->parent) {
		f->found = depth == 0;
	} else if (parent != f->parent) {
		return 0;
	} else if (f->key) {
		f->found = key && !strcmp(key, f->key);
	} else {
		f->found = !key && idx == f->idx;
	}
	if (f->found) {
		f->kpos = kpos;
		f->vpos = vpos;
	}
	return f->found;
}

int jpos_member(const struct jpos_src *src, const json_t *obj, const char *key,
		struct jpos *kpos, struct jpos *vpos)
{
	struct find f = { .parent = obj, .key = key };

	if (obj && !key)
		return -ENOENT;
	if (jpos_walk(src, find_cb, &f) != 1)
		return -ENOENT;
	if (kpos)
		*kpos = f.kpos;
	if (vpos)
		*vpos = f.vpos;
	return 0;
}

int jpos_element(const struct jpos_src *src, const json_t *arr, size_t idx,
		 struct jpos *vpos)
{
	struct find f = { .parent = arr, .idx = idx };

	if (!arr)
		return -ENOENT;
	if (jpos_walk(src, find_cb, &f) != 1)
		return -ENOENT;
	if (vpos)
		*vpos = f.vpos;
	return 0;
}

struct jpos jpos_at_offset(const char *text, size_t len, size_t off)
{
	struct scan s = { .t = text, .len = len, .line = 1 };

	if (off > len)
		off = len;
	while (s.i < off)
		adv(&s);
	return here(&s);
}
