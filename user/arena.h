/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The two bump allocators of a policy parse: the jansson parse arena, which
 * holds the DOM while one thread parses and is dropped wholesale after, and
 * the grant store, large blocks a parsed policy owns its grants' small
 * strings and port lists in.
 */
#ifndef BULKHEAD_ARENA_H
#define BULKHEAD_ARENA_H

#include <stddef.h>

struct bh_arena_chunk;

struct bh_arena {
	struct bh_arena_chunk *last;
	char *cur, *end;
	char *ready;		/* populated up to here */
};

/*
 * Serve this thread's jansson allocations from a (until bh_arena_end).
 * Returns 1, or 0 when jansson no longer calls the arena (someone installed
 * other functions since): the DOM then comes from them and must be freed
 * with json_decref.
 */
int bh_arena_begin(struct bh_arena *a);
/* Drop everything allocated from a; no block of it may be used after. */
void bh_arena_end(struct bh_arena *a);

/*
 * n bytes (8-aligned) from the store *store (NULL: empty), which grows by a
 * block when needed; NULL without memory. Blocks are freed only all together,
 * by bh_store_free, which leaves *store NULL.
 */
void *bh_store_alloc(void **store, size_t n);
void bh_store_free(void **store);

#endif
