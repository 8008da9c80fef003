// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The bump allocators of a policy parse (arena.h): the jansson parse arena
 * and the grant store.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "arena.h"

/* ------------------------------------------------------------ parse arena */

/*
 * jansson builds a DOM of the whole policy: for a million grants some 18
 * million small blocks (objects, hash buckets, key/value pairs, strings,
 * arrays), about 1 GB through malloc, and every one of them freed again by
 * json_decref. The DOM never outlives bh_policy_parse, so while a policy is
 * parsed jansson allocates from an arena instead: large mappings handed out
 * front to back, with no per-block header, and unmapped wholesale when the
 * parse is done. A block jansson frees meanwhile (a key copied into its hash
 * table, a buffer that grew) stays until then.
 *
 * jansson's allocator is process-wide (json_set_alloc_funcs), so the arena
 * serves only the thread that is parsing, through a thread-local pointer;
 * any other allocation goes to the functions installed before (malloc), and
 * a block that is not the arena's goes to their free. That also makes the
 * late install safe: blocks allocated before it are freed where they came
 * from.
 */
/* Chunks start small (a small policy maps and faults in a few pages, not
 * megabytes) and double up to ARENA_CHUNK; each is populated ahead of use in
 * steps of an eighth of it, at most ARENA_STEP. */
#define ARENA_FIRST	(64ul << 10)
#define ARENA_CHUNK	(32ul << 20)
#define ARENA_STEP	(2ul << 20)
#define ARENA_ALIGN	8ul	/* jansson's blocks hold pointers, sizes, json_int_t, double */
#define ARENA_MAX	(1ul << 40)

_Static_assert(_Alignof(json_int_t) <= ARENA_ALIGN && _Alignof(double) <= ARENA_ALIGN &&
	       _Alignof(void *) <= ARENA_ALIGN && _Alignof(size_t) <= ARENA_ALIGN,
	       "arena alignment");

struct bh_arena_chunk {
	struct bh_arena_chunk *prev;
	size_t size;		/* of the whole mapping, this header included */
};

static _Thread_local struct bh_arena *parse_arena;
static json_malloc_t next_malloc = malloc;
static json_free_t next_free = free;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static int arena_grow(struct bh_arena *a, size_t n)
{
	size_t size = sizeof(struct bh_arena_chunk) + n;
	size_t want = !a->last ? ARENA_FIRST :
		      a->last->size >= ARENA_CHUNK ? ARENA_CHUNK : a->last->size * 2;
	struct bh_arena_chunk *ch;

	size = size <= want ? want : (size + want - 1) & ~(want - 1);
	ch = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ch == MAP_FAILED)
		return -ENOMEM;
	ch->prev = a->last;
	ch->size = size;
	a->last = ch;
	a->cur = (char *)(ch + 1);
	a->end = (char *)ch + size;
	a->ready = (char *)ch;
	return 0;
}

/*
 * Fault in whole steps of pages, through a->cur, in one call each: cheaper
 * than a page fault for every 4 KiB, and the DOM touches every page anyway.
 * Where that fails, pages fault in one by one. (Steps stay page aligned: a
 * chunk starts on a page and a step is a multiple of any page size.)
 */
static void arena_populate(struct bh_arena *a)
{
	const size_t size = a->last->size / 8;
	const size_t step = size < ARENA_STEP ? size : ARENA_STEP;
	char *to = a->ready;

	while (to < a->cur)
		to += step;
	if (to > a->end)
		to = a->end;
	madvise(a->ready, (size_t)(to - a->ready), MADV_POPULATE_WRITE);
	a->ready = to;
}

static void *arena_malloc(size_t n)
{
	struct bh_arena *a = parse_arena;
	char *p;

	if (!a)
		return next_malloc(n);
	if (n > ARENA_MAX)
		return NULL;
	n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if ((size_t)(a->end - a->cur) < n && arena_grow(a, n))
		return NULL;
	p = a->cur;
	a->cur += n;
	if (a->cur > a->ready)
		arena_populate(a);
	return p;
}

static void arena_free(void *ptr)
{
	const struct bh_arena *a = parse_arena;
	const char *p = ptr;

	if (!p)
		return;
	for (const struct bh_arena_chunk *ch = a ? a->last : NULL; ch; ch = ch->prev)
		if (p >= (const char *)ch && p < (const char *)ch + ch->size)
			return;		/* the arena's: goes with it */
	next_free(ptr);
}

static void arena_install(void)
{
	json_get_alloc_funcs(&next_malloc, &next_free);
	json_set_alloc_funcs(arena_malloc, arena_free);
}

int bh_arena_begin(struct bh_arena *a)
{
	json_malloc_t m;
	json_free_t f;

	memset(a, 0, sizeof(*a));
#ifdef BH_PLAIN_MALLOC
	/* sanitizer and fuzzer builds: every block through malloc, where ASan
	 * sees overflows and leaks (the DOM is then freed with json_decref) */
	return 0;
#endif
	pthread_once(&arena_once, arena_install);
	json_get_alloc_funcs(&m, &f);
	if (m != arena_malloc || f != arena_free)
		return 0;
	parse_arena = a;
	return 1;
}

void bh_arena_end(struct bh_arena *a)
{
	parse_arena = NULL;
	while (a->last) {
		struct bh_arena_chunk *prev = a->last->prev;

		munmap(a->last, a->last->size);
		a->last = prev;
	}
	a->cur = a->end = NULL;
}

/* ------------------------------------------------------------ grant store */

/*
 * A parsed policy's grants own up to three small blocks each (port list,
 * `to` as written, purpose): millions of mallocs and frees for a million
 * grants. They are carved from large blocks the policy owns instead
 * (bh_policy.store), all freed by bh_policy_free.
 */
#define STORE_BLOCK	(256u << 10)

struct store_block {
	struct store_block *prev;
	size_t size, used;
	_Alignas(8) char data[];
};

void *bh_store_alloc(void **store, size_t n)
{
	struct store_block *b = *store;

	n = (n + 7) & ~(size_t)7;
	if (!b || b->size - b->used < n) {
		size_t size = n > STORE_BLOCK / 4 ? n : STORE_BLOCK - sizeof(*b);

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->prev = *store;
		b->size = size;
		b->used = 0;
		*store = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

void bh_store_free(void **store)
{
	while (*store) {
		struct store_block *b = *store;

		*store = b->prev;
		free(b);
	}
}
