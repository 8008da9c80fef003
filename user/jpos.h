/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Source positions of values in a JSON text that jansson has already parsed.
 *
 * Why this exists: jansson reports line:column for syntax errors only; a
 * parsed json_t carries no position. The policy validator must still say
 * "policy.json:12:7: port 70000 out of range", so it asks here: the text is
 * scanned again in lockstep with the jansson tree (objects iterate in
 * insertion order, which is file order because duplicate keys are rejected).
 * One walk serves any number of questions (jpos_find), and a walk skips the
 * subtrees its caller does not need at the cost of a byte scan, so a policy
 * of a million grants costs one quick pass, not one pass per question.
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

/* What a walk does after its callback has seen a value. */
enum jpos_next {
	JPOS_ENTER,	/* visit the value's members or elements (if any) */
	JPOS_SKIP,	/* step over the value without visiting inside it */
	JPOS_STOP,	/* end the walk */
};

/*
 * Called for every value visited, in file order. parent is NULL for the
 * root; for an object member key is its name and kpos its position, for an
 * array element key is NULL and idx its index. depth is 0 for the root.
 */
typedef enum jpos_next (*jpos_cb)(void *arg, const json_t *parent, const char *key,
				  size_t idx, const json_t *val, int depth,
				  struct jpos kpos, struct jpos vpos);

/*
 * Walk src->text and src->root together. Returns 1 if cb stopped the walk,
 * 0 at the end, -EINVAL if text and tree disagree.
 */
int jpos_walk(const struct jpos_src *src, jpos_cb cb, void *arg);

/*
 * A value to locate: the member key of object parent, or (key NULL) element
 * idx of array parent, or (parent NULL) the root value. jpos_find fills
 * kpos (members only) and vpos and sets found.
 */
struct jpos_want {
	const json_t *parent;
	const char *key;
	size_t idx;
	struct jpos kpos, vpos;
	int found;
};

/* Locate all n wants in one walk; returns how many were found. */
size_t jpos_find(const struct jpos_src *src, struct jpos_want *w, size_t n);

/* Line and column of byte offset off (clamped to the text). */
struct jpos jpos_at_offset(const char *text, size_t len, size_t off);

#endif
