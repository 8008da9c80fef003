/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Source positions of values in a JSON text that jansson has already parsed.
 *
 * Why this exists: jansson reports line:column for syntax errors only; a
 * parsed json_t carries no position. The policy validator must still say
 * "policy.json:12:7: port 70000 out of range", so when (and only when) it
 * reports an error it asks here: the text is scanned again in lockstep with
 * the jansson tree (objects iterate in insertion order, which is file order
 * because duplicate keys are rejected), until the wanted node is reached.
 *
 * Values are located through their parent (object + key, or array + index)
 * rather than by their own pointer: jansson shares one json_t for every
 * true, false and null, so those pointers do not identify a place.
 *
 * Lines and columns are 1-based; columns count UTF-8 characters, as jansson's
 * own error columns do.
 */
#ifndef BULKHEAD_JPOS_H
#define BULKHEAD_JPOS_H

#include <stddef.h>
#include <jansson.h>

struct jpos {
	int line, col;
};

/* The text a tree was parsed from. */
struct jpos_src {
	const char *text;
	size_t len;
	const json_t *root;
};

/*
 * Called for every value in file order. parent is NULL for the root; for an
 * object member key is its name and kpos its position, for an array element
 * key is NULL and idx its index. depth is 0 for the root. Return non-zero to
 * stop the walk.
 */
typedef int (*jpos_cb)(void *arg, const json_t *parent, const char *key,
		       size_t idx, const json_t *val, int depth,
		       struct jpos kpos, struct jpos vpos);

/*
 * Walk src->text and src->root together. Returns 1 if cb stopped the walk,
 * 0 at the end, -EINVAL if text and tree disagree.
 */
int jpos_walk(const struct jpos_src *src, jpos_cb cb, void *arg);

/*
 * Position of obj's member key (kpos) and of its value (vpos); obj == NULL
 * means the root value (vpos only). Either out pointer may be NULL.
 * Returns 0 or -ENOENT.
 */
int jpos_member(const struct jpos_src *src, const json_t *obj, const char *key,
		struct jpos *kpos, struct jpos *vpos);

/* Position of element idx of array arr. Returns 0 or -ENOENT. */
int jpos_element(const struct jpos_src *src, const json_t *arr, size_t idx,
		 struct jpos *vpos);

/* Line and column of byte offset off (clamped to the text). */
struct jpos jpos_at_offset(const char *text, size_t len, size_t off);

#endif
