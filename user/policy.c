// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Policy schema v1: parse and validate with jansson, then flatten the grants
 * into the LPM trie entries the kernel looks up (policy.h has the contract).
 *
 * Validation collects every problem (up to BH_MAX_ERRORS) as
 * "file:line:column: reason". jansson keeps no positions for values, so
 * positions are looked up in the text (jpos.c): those of all errors together
 * in one walk once validation is done, or, for a valid policy, where each
 * grant starts, in one walk that steps over everything else.
 *
 * jansson's DOM of a large policy is millions of small blocks; while a
 * policy is parsed they come from an arena that is dropped wholesale (see
 * "parse arena" below).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include "jpos.h"
#include "policy.h"

_Static_assert(sizeof(struct bh_lpm_key) == 24, "bh_lpm_key layout");
_Static_assert(sizeof(struct bh_rule) == 24, "bh_rule layout");
_Static_assert(sizeof(struct bh_lpm_val) == 8 + 24 * BH_MAX_RULES, "bh_lpm_val layout");

#define NS_PER_SEC	1000000000LL
#define MAX_NAME	64
#define MAX_CGPATH	4095
#define MAX_FILE	(1u << 30)
#define REASON_LEN	256

/* ------------------------------------------------------------------ errors */

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

/* s double-quoted and safe for a terminal, cut after about 64 bytes. */
#define QLEN 300
#define Q(s) quote((s), (char[QLEN]){ 0 })
static const char *quote(const char *s, char *buf)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; s[i] && (i < 64 || ((unsigned char)s[i] & 0xc0) == 0x80); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, QLEN - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

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
#define ARENA_CHUNK	(32ul << 20)
#define ARENA_STEP	(2ul << 20)	/* populated ahead of use in steps of this */
#define ARENA_ALIGN	8ul	/* jansson's blocks hold pointers, sizes, json_int_t, double */
#define ARENA_MAX	(1ul << 40)

_Static_assert(_Alignof(json_int_t) <= ARENA_ALIGN && _Alignof(double) <= ARENA_ALIGN &&
	       _Alignof(void *) <= ARENA_ALIGN && _Alignof(size_t) <= ARENA_ALIGN,
	       "arena alignment");

struct arena_chunk {
	struct arena_chunk *prev;
	size_t size;		/* of the whole mapping, this header included */
};

struct arena {
	struct arena_chunk *last;
	char *cur, *end;
	char *ready;		/* populated up to here */
};

static _Thread_local struct arena *parse_arena;
static json_malloc_t next_malloc = malloc;
static json_free_t next_free = free;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static int arena_grow(struct arena *a, size_t n)
{
	size_t size = sizeof(struct arena_chunk) + n;
	struct arena_chunk *ch;

	size = size <= ARENA_CHUNK ? ARENA_CHUNK : (size + ARENA_CHUNK - 1) & ~(ARENA_CHUNK - 1);
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
static void arena_populate(struct arena *a)
{
	char *to = a->ready;

	while (to < a->cur)
		to += ARENA_STEP;
	if (to > a->end)
		to = a->end;
	madvise(a->ready, (size_t)(to - a->ready), MADV_POPULATE_WRITE);
	a->ready = to;
}

static void *arena_malloc(size_t n)
{
	struct arena *a = parse_arena;
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
	const struct arena *a = parse_arena;
	const char *p = ptr;

	if (!p)
		return;
	for (const struct arena_chunk *ch = a ? a->last : NULL; ch; ch = ch->prev)
		if (p >= (const char *)ch && p < (const char *)ch + ch->size)
			return;		/* the arena's: goes with it */
	next_free(ptr);
}

static void arena_install(void)
{
	json_get_alloc_funcs(&next_malloc, &next_free);
	json_set_alloc_funcs(arena_malloc, arena_free);
}

/*
 * Serve this thread's jansson allocations from a. Returns 0 when jansson no
 * longer calls the arena (someone installed other functions since): the DOM
 * then comes from them and must be freed with json_decref.
 */
static int arena_begin(struct arena *a)
{
	json_malloc_t m;
	json_free_t f;

	memset(a, 0, sizeof(*a));
	pthread_once(&arena_once, arena_install);
	json_get_alloc_funcs(&m, &f);
	if (m != arena_malloc || f != arena_free)
		return 0;
	parse_arena = a;
	return 1;
}

/* Drop everything allocated from a; no block of it may be used after. */
static void arena_end(struct arena *a)
{
	parse_arena = NULL;
	while (a->last) {
		struct arena_chunk *prev = a->last->prev;

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
 * (p->store), all freed by bh_policy_free.
 */
#define STORE_BLOCK	(256u << 10)

struct store_block {
	struct store_block *prev;
	size_t size, used;
	_Alignas(8) char data[];
};

static void *store_alloc(struct bh_policy *p, size_t n)
{
	struct store_block *b = p->store;

	n = (n + 7) & ~(size_t)7;
	if (!b || b->size - b->used < n) {
		size_t size = n > STORE_BLOCK / 4 ? n : STORE_BLOCK - sizeof(*b);

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->prev = p->store;
		b->size = size;
		b->used = 0;
		p->store = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static void store_free(struct bh_policy *p)
{
	while (p->store) {
		struct store_block *b = p->store;

		p->store = b->prev;
		free(b);
	}
}

/* A copy of s for a grant of p: in p's store, or (!in_store) a block of its own. */
static char *grant_strdup(struct bh_policy *p, const char *s, int in_store)
{
	size_t n = strlen(s) + 1;
	char *d = in_store ? store_alloc(p, n) : malloc(n);

	return d ? memcpy(d, s, n) : NULL;
}

/* ---------------------------------------------------------- value parsers */

static int is_v4mapped(const uint8_t *a)
{
	static const uint8_t pre[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pre, sizeof(pre));
}

static void prefix_mask(struct bh_prefix *pf)
{
	for (int i = 0; i < 16; i++) {
		int bits = pf->plen - 8 * i;

		if (bits < 8)
			pf->addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
}

const char *bh_prefix_str(const struct bh_prefix *pf, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (pf->plen >= 96 && is_v4mapped(pf->addr)) {
		inet_ntop(AF_INET, pf->addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, pf->plen - 96);
	} else {
		inet_ntop(AF_INET6, pf->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, pf->plen);
	}
	return buf;
}

/*
 * "a.b.c.d", "a.b.c.d/n", IPv6 and IPv6/n. IPv4 is stored IPv4-mapped, so
 * ::ffff:a.b.c.d/n (n >= 96) is the same prefix as a.b.c.d/(n-96).
 */
static int parse_prefix(const char *s, struct bh_prefix *pf, char *why)
{
	char a[INET6_ADDRSTRLEN + 1], alt[BH_PREFIX_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct bh_prefix m;
	unsigned long n;
	int v6, max;

	memset(pf, 0, sizeof(*pf));
	if (alen == 0 || alen >= sizeof(a))
		goto bad;
	memcpy(a, s, alen);
	a[alen] = '\0';
	v6 = strchr(a, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, a, v6 ? pf->addr : pf->addr + 12) != 1)
		goto bad;
	if (!v6)
		pf->addr[10] = pf->addr[11] = 0xff;
	max = v6 ? 128 : 32;
	n = (unsigned long)max;
	if (slash) {
		size_t k = strspn(slash + 1, "0123456789");

		if (k == 0 || k > 3 || slash[1 + k]) {
			snprintf(why, REASON_LEN, "bad prefix length in %s", Q(s));
			return -EINVAL;
		}
		n = strtoul(slash + 1, NULL, 10);
		if (n > (unsigned long)max) {
			snprintf(why, REASON_LEN, "prefix length /%lu out of range (0-%d) in %s",
				 n, max, Q(s));
			return -EINVAL;
		}
	}
	pf->plen = (uint8_t)(v6 ? n : 96 + n);
	m = *pf;
	prefix_mask(&m);
	if (memcmp(m.addr, pf->addr, sizeof(m.addr))) {
		snprintf(why, REASON_LEN, "host bits set in %s, did you mean %s?", Q(s),
			 bh_prefix_str(&m, alt, sizeof(alt)));
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(why, REASON_LEN, "bad address %s: expected an IPv4 or IPv6 address or CIDR", Q(s));
	return -EINVAL;
}

/* Decimal digits only, at most 9 of them; -1 otherwise. */
static long parse_digits(const char *s, size_t n)
{
	long v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int check_port(long v, char *why)
{
	if (v >= 1 && v <= 65535)
		return 0;
	snprintf(why, REASON_LEN, "port %ld out of range (1-65535)", v);
	return -EINVAL;
}

/* "443", "8000-8100" or a JSON integer. */
static int parse_port(const json_t *v, struct bh_port_range *r, char *why)
{
	const char *s, *dash;
	long lo, hi;

	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x < 1 || x > 65535) {
			snprintf(why, REASON_LEN, "port %" JSON_INTEGER_FORMAT " out of range (1-65535)", x);
			return -EINVAL;
		}
		r->lo = r->hi = (uint16_t)x;
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(why, REASON_LEN, "a port is a string like \"443\" or \"8000-8100\", or an integer");
		return -EINVAL;
	}
	s = json_string_value(v);
	dash = strchr(s, '-');
	lo = parse_digits(s, dash ? (size_t)(dash - s) : strlen(s));
	hi = dash ? parse_digits(dash + 1, strlen(dash + 1)) : lo;
	if (lo < 0 || hi < 0) {
		snprintf(why, REASON_LEN, "bad port %s: expected \"443\" or \"8000-8100\"", Q(s));
		return -EINVAL;
	}
	if (check_port(lo, why) || check_port(hi, why))
		return -EINVAL;
	if (lo > hi) {
		snprintf(why, REASON_LEN, "reversed port range %ld-%ld (did you mean %ld-%ld?)",
			 lo, hi, hi, lo);
		return -EINVAL;
	}
	r->lo = (uint16_t)lo;
	r->hi = (uint16_t)hi;
	return 0;
}

static int range_cmp(const void *x, const void *y)
{
	const struct bh_port_range *a = x, *b = y;

	return a->lo != b->lo ? (a->lo < b->lo ? -1 : 1) : (a->hi > b->hi) - (a->hi < b->hi);
}

/* Sort and merge overlapping or adjacent ranges; returns the new count. */
static size_t merge_ranges(struct bh_port_range *r, size_t n)
{
	size_t o = 0, i;

	for (i = 1; i < n && range_cmp(&r[i - 1], &r[i]) <= 0; i++)
		;
	if (i < n)	/* port lists are mostly written in order */
		qsort(r, n, sizeof(*r), range_cmp);
	for (i = 0; i < n; i++) {
		if (o && (uint32_t)r[i].lo <= (uint32_t)r[o - 1].hi + 1) {
			if (r[i].hi > r[o - 1].hi)
				r[o - 1].hi = r[i].hi;
		} else {
			r[o++] = r[i];
		}
	}
	return o;
}

static int digits_at(const char *s, const char *pattern)
{
	for (size_t i = 0; pattern[i]; i++) {
		if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
			return 0;
	}
	return 1;
}

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), 'T'/'Z'
 * in either case. The date must exist; second 60 (a leap second) is accepted.
 */
static int parse_rfc3339(const char *s, int64_t *ns, char *why)
{
	char buf[20];
	struct tm tm = { 0 }, back;
	const char *r;
	int64_t frac = 0, scale = NS_PER_SEC, off = 0, leap = 0, secs;
	time_t t;

	if (strlen(s) < 20 || !digits_at(s, "dddd-dd-dd") || !strchr("Tt", s[10]) ||
	    !digits_at(s + 11, "dd:dd:dd"))
		goto bad;
	memcpy(buf, s, 19);
	buf[10] = 'T';
	buf[19] = '\0';
	r = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!r || *r)
		goto bad;
	r = s + 19;
	if (*r == '.') {
		if (r[1] < '0' || r[1] > '9')
			goto bad;
		for (r++; *r >= '0' && *r <= '9'; r++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*r - '0') * scale;
			}
		}
	}
	if (*r == 'Z' || *r == 'z') {
		r++;
	} else if ((*r == '+' || *r == '-') && digits_at(r + 1, "dd:dd")) {
		int hh = (r[1] - '0') * 10 + (r[2] - '0'), mm = (r[4] - '0') * 10 + (r[5] - '0');

		if (hh > 23 || mm > 59)
			goto bad;
		off = (hh * 3600 + mm * 60) * (*r == '-' ? -1 : 1);
		r += 6;
	} else {
		goto bad;
	}
	if (*r)
		goto bad;
	if (tm.tm_sec == 60) {
		tm.tm_sec = 59;
		leap = 1;
	}
	back = tm;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday) {
		snprintf(why, REASON_LEN, "no such date: %s", Q(s));
		return -EINVAL;
	}
	secs = (int64_t)t - off + leap;
	if (secs > INT64_MAX / NS_PER_SEC - 1 || secs < -(INT64_MAX / NS_PER_SEC) + 1) {
		snprintf(why, REASON_LEN, "expires %s out of range", Q(s));
		return -EINVAL;
	}
	*ns = secs * NS_PER_SEC + frac;
	if (*ns < 1)		/* 0 means "no expiry"; anything before 1970 is past anyway */
		*ns = 1;
	return 0;
bad:
	snprintf(why, REASON_LEN, "bad expires %s: expected RFC 3339, like \"2026-12-01T00:00:00Z\"", Q(s));
	return -EINVAL;
}

/* "90s", "15m", "8h", "2d": a positive count and one unit. */
static int parse_ttl(const char *s, int64_t *ns, char *why)
{
	size_t n = strlen(s);
	int64_t unit;
	long v;

	if (n < 2)
		goto bad;
	switch (s[n - 1]) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: goto bad;
	}
	v = parse_digits(s, n - 1);
	if (v < 0)
		goto bad;
	if (v == 0) {
		snprintf(why, REASON_LEN, "ttl %s must be positive", Q(s));
		return -EINVAL;
	}
	if (v > INT64_MAX / NS_PER_SEC / unit) {
		snprintf(why, REASON_LEN, "ttl %s too long", Q(s));
		return -EINVAL;
	}
	*ns = v * unit * NS_PER_SEC;
	return 0;
bad:
	snprintf(why, REASON_LEN, "bad ttl %s: expected a duration like \"90s\", \"15m\", \"8h\" or \"2d\"", Q(s));
	return -EINVAL;
}

/*
 * A cgroup path relative to the cgroup2 mount: leading and trailing '/'
 * stripped ("/a.slice" as /proc/PID/cgroup writes it is "a.slice"); no
 * empty, "." or ".." component; not the root itself; not a filesystem path
 * below /sys (the mount written into the path, which would be read as a
 * cgroup "sys/fs/cgroup/..." that never exists).
 */
static int norm_cgroup_path(const char *s, char **out, char *why)
{
	static const char *const mounts[] = { "/sys/fs/cgroup/unified/", "/sys/fs/cgroup/" };
	size_t b = strspn(s, "/"), e = strlen(s), i;
	const char *c;

	*out = NULL;
	while (e > b && s[e - 1] == '/')
		e--;
	if (e == b) {
		snprintf(why, REASON_LEN, "cgroup path %s names the cgroup root", Q(s));
		return -EINVAL;
	}
	if (b && !strncmp(s + b, "sys", 3) && (s[b + 3] == '/' || !s[b + 3])) {
		const char *rest = NULL;

		for (i = 0; i < 2 && !rest; i++)
			if (!strncmp(s, mounts[i], strlen(mounts[i])))
				rest = s + strlen(mounts[i]);
		if (rest && *rest && strcmp(rest, "unified") && strcmp(rest, "unified/"))
			snprintf(why, REASON_LEN, "cgroup path %s is a filesystem path: write %s, "
				 "relative to the cgroup2 mount", Q(s), Q(rest));
		else
			snprintf(why, REASON_LEN, "cgroup path %s is a filesystem path: write it "
				 "relative to the cgroup2 mount, like \"partners.slice/acme.service\"",
				 Q(s));
		return -EINVAL;
	}
	if (e - b > MAX_CGPATH) {
		snprintf(why, REASON_LEN, "cgroup path %s too long", Q(s));
		return -EINVAL;
	}
	for (c = s + b; c < s + e;) {
		size_t k = strcspn(c, "/");

		if (c + k > s + e)
			k = (size_t)(s + e - c);
		if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.')) {
			snprintf(why, REASON_LEN, "cgroup path %s has an empty, \".\" or \"..\" component", Q(s));
			return -EINVAL;
		}
		c += k + 1;
	}
	*out = strndup(s + b, e - b);
	return *out ? 0 : -ENOMEM;
}

static int valid_partner_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > MAX_NAME || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* ------------------------------------------------------------- validation */

/*
 * An error found while validating. Where it is gets looked up once
 * validation is done, for all errors in one walk over the text (a walk per
 * error would make a policy with many errors cost many passes).
 */
struct pending {
	struct jpos_want at;
	int at_key;		/* the member's key, not its value */
	char *reason;		/* NULL: out of memory */
};

struct pctx {
	const char *name;
	struct jpos_src src;
	struct bh_errors *errs;
	struct pending pend[BH_MAX_ERRORS];
	size_t npend;
	int failed;
	int in_store;		/* grants' blocks go to the policy's store */
};

enum { AT_VAL = 0, AT_KEY = 1 };

/* Room for one more message? Otherwise it is only counted. */
static int err_room(struct pctx *c)
{
	c->failed = 1;
	if (c->errs->n + c->npend < BH_MAX_ERRORS)
		return 1;
	c->errs->more++;
	return 0;
}

static void add_at(struct pctx *c, struct jpos_want at, int at_key, const char *fmt, va_list ap)
{
	struct pending *e = &c->pend[c->npend++];

	e->at = at;
	e->at_key = at_key;
	if (vasprintf(&e->reason, fmt, ap) < 0)
		e->reason = NULL;
}

/* Error at member key of obj (its value, or with at_key the key); obj NULL: the root. */
__attribute__((format(printf, 5, 6)))
static void err_member(struct pctx *c, const json_t *obj, const char *key, int at_key,
		       const char *fmt, ...)
{
	va_list ap;

	if (!err_room(c))
		return;
	va_start(ap, fmt);
	add_at(c, (struct jpos_want){ .parent = obj, .key = key }, at_key, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5)))
static void err_elem(struct pctx *c, const json_t *arr, size_t idx, const char *fmt, ...)
{
	va_list ap;

	if (!err_room(c))
		return;
	va_start(ap, fmt);
	add_at(c, (struct jpos_want){ .parent = arr, .idx = idx }, AT_VAL, fmt, ap);
	va_end(ap);
}

/* Look up where the pending errors are (one walk) and add them to c->errs. */
static void report_pending(struct pctx *c)
{
	struct jpos_want w[BH_MAX_ERRORS];
	size_t i;

	for (i = 0; i < c->npend; i++)
		w[i] = c->pend[i].at;
	jpos_find(&c->src, w, c->npend);
	for (i = 0; i < c->npend; i++) {
		struct pending *e = &c->pend[i];
		struct jpos pos = !w[i].found ? (struct jpos){ 0, 0 } : e->at_key ? w[i].kpos : w[i].vpos;

		bh_errors_add(c->errs, "%s:%d:%d: %s", c->name, pos.line, pos.col,
			      e->reason ? e->reason : "(out of memory formatting the message)");
		free(e->reason);
	}
	c->npend = 0;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* A cgroup binding, for the "bound twice" check. */
struct binding {
	const char *path;
	uint32_t partner;
	const json_t *arr;	/* the cgroups array; NULL: implicit partner_root/<name> */
	size_t idx;
	size_t seq;		/* file order */
};

struct bindings {
	struct binding *v;
	size_t n, cap;
};

static int bindings_add(struct bindings *b, struct binding x)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct binding *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	x.seq = b->n;
	b->v[b->n++] = x;
	return 0;
}

static int parse_never(struct pctx *c, const json_t *root, const json_t *v, struct bh_policy *p)
{
	char why[REASON_LEN];
	size_t i;
	json_t *e;

	if (!json_is_array(v)) {
		err_member(c, root, "never", AT_VAL, "\"never\" must be an array of addresses or CIDRs, not %s",
			   type_name(v));
		return 0;
	}
	p->never = calloc(json_array_size(v) + 1, sizeof(*p->never));
	if (!p->never)
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			err_elem(c, v, i, "a never entry is an address or CIDR string, not %s", type_name(e));
			continue;
		}
		if (parse_prefix(json_string_value(e), &p->never[p->nnever], why)) {
			err_elem(c, v, i, "%s", why);
			continue;
		}
		p->nnever++;
	}
	return 0;
}

void bh_grant_free(struct bh_grant *g)
{
	free(g->ports);
	free(g->purpose);
	free(g->to_text);
}

/* allow[i] of partner pidx into p->grants[p->ngrants]; errors go to c. */
static int parse_grant(struct pctx *c, const json_t *allow, size_t i, uint32_t pidx,
		       struct bh_policy *p)
{
	const json_t *gv = json_array_get(allow, i), *v, *ports = NULL;
	struct bh_grant g = { .partner_idx = pidx, .proto = BH_PROTO_ANY };
	const char *key, *time_key = NULL;
	char why[REASON_LEN];
	int bad = 0, err = 0, has_to = 0;

	if (!json_is_object(gv)) {
		err_elem(c, allow, i, "a grant is an object, not %s", type_name(gv));
		return 0;
	}
	json_object_foreach((json_t *)gv, key, v) {
		if (!strcmp(key, "to")) {
			has_to = 1;
			if (!json_is_string(v)) {
				err_member(c, gv, key, AT_VAL, "\"to\" must be an address or CIDR string");
				bad = 1;
			} else if (parse_prefix(json_string_value(v), &g.to, why)) {
				err_member(c, gv, key, AT_VAL, "%s", why);
				bad = 1;
			} else if (!(g.to_text = grant_strdup(p, json_string_value(v), c->in_store))) {
				err = -ENOMEM;
				goto out;
			}
		} else if (!strcmp(key, "proto")) {
			const char *s = json_is_string(v) ? json_string_value(v) : "";

			if (!strcmp(s, "tcp")) {
				g.proto = BH_PROTO_TCP;
			} else if (!strcmp(s, "udp")) {
				g.proto = BH_PROTO_UDP;
			} else if (!strcmp(s, "icmp")) {
				g.proto = BH_PROTO_ICMP;
			} else if (!strcmp(s, "any")) {
				g.proto = BH_PROTO_ANY;
			} else {
				err_member(c, gv, key, AT_VAL, json_is_string(v) ?
					   "unknown proto %s (expected \"tcp\", \"udp\", \"icmp\" or \"any\")" :
					   "\"proto\" must be \"tcp\", \"udp\", \"icmp\" or \"any\", not %s",
					   json_is_string(v) ? Q(s) : type_name(v));
				bad = 1;
			}
		} else if (!strcmp(key, "ports")) {
			ports = v;
		} else if (!strcmp(key, "purpose")) {
			if (!json_is_string(v)) {
				err_member(c, gv, key, AT_VAL, "\"purpose\" must be a string");
				bad = 1;
			} else if (!(g.purpose = grant_strdup(p, json_string_value(v), c->in_store))) {
				err = -ENOMEM;
				goto out;
			}
		} else if (!strcmp(key, "expires") || !strcmp(key, "ttl")) {
			int is_ttl = key[0] == 't';

			if (time_key) {
				err_member(c, gv, key, AT_VAL, "both \"expires\" and \"ttl\" given; use one");
				bad = 1;
			} else if (!json_is_string(v)) {
				err_member(c, gv, key, AT_VAL, is_ttl ?
					   "\"ttl\" must be a string like \"90s\", \"15m\", \"8h\" or \"2d\"" :
					   "\"expires\" must be an RFC 3339 string");
				bad = 1;
			} else if (is_ttl ? parse_ttl(json_string_value(v), &g.ttl_ns, why) :
				   parse_rfc3339(json_string_value(v), &g.expires_unix_ns, why)) {
				err_member(c, gv, key, AT_VAL, "%s", why);
				bad = 1;
			}
			time_key = key;
		} else {
			err_member(c, gv, key, AT_KEY,
				   "unknown key %s in grant (expected to, proto, ports, purpose, expires, ttl)",
				   Q(key));
			bad = 1;
		}
	}
	if (!has_to) {
		err_elem(c, allow, i, "grant has no \"to\"");
		bad = 1;
	}
	if (ports) {
		size_t n = json_array_size(ports), j;
		json_t *e;

		if (!json_is_array(ports) || !n) {
			err_member(c, gv, "ports", AT_VAL,
				   "\"ports\" must be a non-empty array (omit it for all ports)");
			bad = 1;
		} else if (g.proto == BH_PROTO_ICMP) {
			err_member(c, gv, "ports", AT_VAL, "\"ports\" given with proto \"icmp\", which has no ports");
			bad = 1;
		} else if (!(g.ports = c->in_store ? store_alloc(p, n * sizeof(*g.ports)) :
				      calloc(n, sizeof(*g.ports)))) {
			err = -ENOMEM;
			goto out;
		} else {
			json_array_foreach(ports, j, e) {
				if (parse_port(e, &g.ports[g.nports], why)) {
					err_elem(c, ports, j, "%s", why);
					bad = 1;
				} else {
					g.nports++;
				}
			}
			g.nports = merge_ranges(g.ports, g.nports);
			if (!bad && g.nports > BH_MAX_RULES) {
				err_member(c, gv, "ports", AT_VAL,
					   "%zu separate port ranges; at most %d (use ranges like \"8000-8100\")",
					   g.nports, BH_MAX_RULES);
				bad = 1;
			}
		}
	}
	if (!bad) {
		g.id = (uint32_t)p->ngrants + 1;
		p->grants[p->ngrants++] = g;
		return 0;
	}
out:
	if (!c->in_store)	/* otherwise it goes with the store */
		bh_grant_free(&g);
	return err;
}

/* An org or contact value: a short printable string (it goes into every
 * event of the partner). 0, a reason in why, or -ENOMEM. */
static int parse_label(const json_t *v, const char *key, char **out, char *why)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t i, n = s ? strlen(s) : 0;

	if (!s || !n || n >= BH_ORG_MAX) {
		snprintf(why, REASON_LEN, "\"%s\" must be a string of 1 to %d bytes", key,
			 BH_ORG_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(why, REASON_LEN, "\"%s\" has a control character", key);
			return -EINVAL;
		}
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int parse_partner(struct pctx *c, const json_t *partners, const char *name,
			 const json_t *pv, struct bh_policy *p, struct bindings *b)
{
	uint32_t pidx = (uint32_t)p->npartners;
	struct bh_partner *pt = &p->partners[p->npartners++];
	char why[REASON_LEN];
	const char *key;
	json_t *v, *e;
	size_t i;
	int err = 0;

	memset(pt, 0, sizeof(*pt));
	pt->id = pidx + 1;
	pt->mode = BH_MODE_ENFORCE;
	pt->name = strdup(name);
	if (!pt->name)
		return -ENOMEM;
	if (!valid_partner_name(name))
		err_member(c, partners, name, AT_KEY,
			   "bad partner name %s: 1-64 characters of A-Z a-z 0-9 . _ - (not \".\" or \"..\")",
			   Q(name));
	if (pidx + 1 >= BH_MAX_PARTNERS) {
		err_member(c, partners, name, AT_KEY, "too many partners (at most %d)", BH_MAX_PARTNERS - 1);
		return 0;
	}
	if (!json_is_object(pv)) {
		err_member(c, partners, name, AT_VAL, "partner %s must be an object, not %s",
			   Q(name), type_name(pv));
		return 0;
	}
	json_object_foreach((json_t *)pv, key, v) {
		if (!strcmp(key, "cgroups")) {
			if (!json_is_array(v)) {
				err_member(c, pv, key, AT_VAL, "\"cgroups\" must be an array of cgroup paths");
				continue;
			}
			pt->cgroups = calloc(json_array_size(v) + 1, sizeof(*pt->cgroups));
			if (!pt->cgroups)
				return -ENOMEM;
			json_array_foreach(v, i, e) {
				char *path;

				if (!json_is_string(e)) {
					err_elem(c, v, i, "a cgroup is a path string, not %s", type_name(e));
					continue;
				}
				err = norm_cgroup_path(json_string_value(e), &path, why);
				if (err == -ENOMEM)
					return err;
				if (err) {
					err_elem(c, v, i, "%s", why);
					continue;
				}
				pt->cgroups[pt->ncgroups++] = path;
				err = bindings_add(b, (struct binding){ path, pidx, v, i, 0 });
				if (err)
					return err;
			}
		} else if (!strcmp(key, "mode")) {
			const char *s = json_is_string(v) ? json_string_value(v) : "";

			if (!strcmp(s, "enforce"))
				pt->mode = BH_MODE_ENFORCE;
			else if (!strcmp(s, "audit"))
				pt->mode = BH_MODE_AUDIT;
			else if (json_is_string(v))
				err_member(c, pv, key, AT_VAL,
					   "unknown mode %s (expected \"enforce\" or \"audit\")", Q(s));
			else
				err_member(c, pv, key, AT_VAL,
					   "\"mode\" must be \"enforce\" or \"audit\", not %s", type_name(v));
		} else if (!strcmp(key, "allow")) {
			if (!json_is_array(v)) {
				err_member(c, pv, key, AT_VAL, "\"allow\" must be an array of grants");
				continue;
			}
			for (i = 0; i < json_array_size(v); i++) {
				err = parse_grant(c, v, i, pidx, p);
				if (err)
					return err;
			}
		} else if (!strcmp(key, "org") || !strcmp(key, "contact")) {
			char **dst = key[0] == 'o' ? &pt->org : &pt->contact;

			free(*dst);
			*dst = NULL;
			err = parse_label(v, key, dst, why);
			if (err == -ENOMEM)
				return err;
			if (err)
				err_member(c, pv, key, AT_VAL, "%s", why);
			err = 0;
		} else {
			err_member(c, pv, key, AT_KEY, "unknown key %s in partner (expected cgroups, "
				   "mode, allow, org, contact)", Q(key));
		}
	}
	return 0;
}

static int binding_cmp(const void *x, const void *y)
{
	const struct binding *a = x, *b = y;
	int r = strcmp(a->path, b->path);

	return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

/*
 * Partners without cgroups get partner_root/<name> (or an error); then no
 * cgroup may be bound twice or be the partner_root itself.
 */
static int check_bindings(struct pctx *c, const json_t *partners, struct bh_policy *p,
			  struct bindings *b)
{
	struct {
		const struct binding *x, *first;	/* first: NULL for the partner_root */
	} prob[BH_MAX_ERRORS];
	struct jpos_want first[BH_MAX_ERRORS];
	size_t i, run, nprob = 0;
	int err;

	for (i = 0; i < p->npartners; i++) {
		struct bh_partner *pt = &p->partners[i];
		const json_t *pv = json_object_get(partners, pt->name);
		const json_t *cg = json_is_object(pv) ? json_object_get(pv, "cgroups") : NULL;
		char **v, *path;

		if (pt->ncgroups || !json_is_object(pv) || (cg && !json_is_array(cg)) ||
		    json_array_size(cg))
			continue;
		if (!p->partner_root) {
			if (cg)
				err_member(c, pv, "cgroups", AT_VAL,
					   "empty \"cgroups\": bind the partner to a cgroup or set \"partner_root\"");
			else
				err_member(c, partners, pt->name, AT_KEY,
					   "partner %s has no \"cgroups\" and there is no \"partner_root\"",
					   Q(pt->name));
			continue;
		}
		if (asprintf(&path, "%s/%s", p->partner_root, pt->name) < 0)
			return -ENOMEM;
		v = realloc(pt->cgroups, 2 * sizeof(*v));
		if (!v) {
			free(path);
			return -ENOMEM;
		}
		pt->cgroups = v;
		pt->cgroups[pt->ncgroups++] = path;
		err = bindings_add(b, (struct binding){ path, (uint32_t)i, NULL, 0, 0 });
		if (err)
			return err;
	}

	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), binding_cmp);
	/* The problems first (as many as there is room for), then where the
	 * first binding of each duplicated path is, all in one walk. */
	for (i = 0, run = 0; i < b->n; i++) {
		const struct binding *x = &b->v[i], *f;

		if (i && strcmp(x->path, b->v[i - 1].path))
			run = i;	/* the first binding of this path */
		if (run == i && !(p->partner_root && !strcmp(x->path, p->partner_root)))
			continue;
		if (c->errs->n + c->npend + nprob >= BH_MAX_ERRORS) {
			c->failed = 1;
			c->errs->more++;
			continue;
		}
		f = run < i ? &b->v[run] : NULL;
		prob[nprob].x = x;
		prob[nprob].first = f;
		first[nprob] = !f ? (struct jpos_want){ .parent = NULL } :	/* unused */
			       f->arr ? (struct jpos_want){ .parent = f->arr, .idx = f->idx } :
			       (struct jpos_want){ .parent = partners, .key = p->partners[f->partner].name };
		nprob++;
	}
	jpos_find(&c->src, first, nprob);
	for (i = 0; i < nprob; i++) {
		const struct binding *x = prob[i].x, *f = prob[i].first;
		struct jpos fp = !first[i].found ? (struct jpos){ 0, 0 } :
				 f && f->arr ? first[i].vpos : first[i].kpos;
		char what[REASON_LEN + 64];

		if (f && f->partner == x->partner)
			snprintf(what, sizeof(what), "cgroup %s listed twice for partner %s (first at %d:%d)",
				 Q(x->path), Q(p->partners[x->partner].name), fp.line, fp.col);
		else if (f)
			snprintf(what, sizeof(what), "cgroup %s bound to partners %s (at %d:%d) and %s",
				 Q(x->path), Q(p->partners[f->partner].name), fp.line, fp.col,
				 Q(p->partners[x->partner].name));
		else
			snprintf(what, sizeof(what), "cgroup %s is the partner_root; bind a cgroup below it",
				 Q(x->path));
		if (x->arr)
			err_elem(c, x->arr, x->idx, "%s", what);
		else
			err_member(c, partners, p->partners[x->partner].name, AT_KEY, "%s", what);
	}
	return 0;
}

static int parse_root(struct pctx *c, const json_t *root, struct bh_policy *p, struct bindings *b)
{
	const json_t *partners = json_object_get(root, "partners"), *v;
	char why[REASON_LEN];
	size_t ngrants = 0;
	const char *key;
	int err;

	if (!json_is_object(root)) {
		err_member(c, NULL, NULL, AT_VAL, "a policy is a JSON object, not %s", type_name(root));
		return 0;
	}
	if (!json_object_get(root, "version"))
		err_member(c, NULL, NULL, AT_VAL, "missing \"version\" (this bulkhead reads version 1)");

	/* Size the partner and grant tables up front. */
	if (json_is_object(partners)) {
		json_object_foreach((json_t *)partners, key, v)
			ngrants += json_array_size(json_object_get(v, "allow"));
		p->partners = calloc(json_object_size(partners) + 1, sizeof(*p->partners));
		p->grants = calloc(ngrants + 1, sizeof(*p->grants));
		if (!p->partners || !p->grants)
			return -ENOMEM;
	}

	json_object_foreach((json_t *)root, key, v) {
		if (!strcmp(key, "version")) {
			if (!json_is_integer(v))
				err_member(c, root, key, AT_VAL, "\"version\" must be the integer 1, not %s",
					   type_name(v));
			else if (json_integer_value(v) != 1)
				err_member(c, root, key, AT_VAL,
					   "unsupported version %" JSON_INTEGER_FORMAT " (this bulkhead reads version 1)",
					   json_integer_value(v));
		} else if (!strcmp(key, "partner_root")) {
			if (!json_is_string(v)) {
				err_member(c, root, key, AT_VAL, "\"partner_root\" must be a cgroup path string");
				continue;
			}
			err = norm_cgroup_path(json_string_value(v), &p->partner_root, why);
			if (err == -ENOMEM)
				return err;
			if (err)
				err_member(c, root, key, AT_VAL, "%s", why);
		} else if (!strcmp(key, "never")) {
			err = parse_never(c, root, v, p);
			if (err)
				return err;
		} else if (!strcmp(key, "partners")) {
			const char *name;
			json_t *pv;

			if (!json_is_object(v)) {
				err_member(c, root, key, AT_VAL, "\"partners\" must be an object of name: partner");
				continue;
			}
			json_object_foreach((json_t *)v, name, pv) {
				err = parse_partner(c, v, name, pv, p, b);
				if (err)
					return err;
			}
		} else {
			err_member(c, root, key, AT_KEY,
				   "unknown key %s (expected version, partner_root, never, partners)", Q(key));
		}
	}
	return json_is_object(partners) ? check_bindings(c, partners, p, b) : 0;
}

/*
 * Record where each grant object starts: one walk that enters only the root,
 * "partners", each partner and each "allow", and steps over everything else
 * (the grants included). For a valid policy only: every allow element is
 * then a grant, and the grants are in file order.
 */
struct gpos {
	const json_t *partners;
	struct bh_grant *g;
	size_t ng, i;
};

static enum jpos_next gpos_cb(void *arg, const json_t *parent, const char *key, size_t idx,
			      const json_t *val, int depth, struct jpos kpos, struct jpos vpos)
{
	struct gpos *st = arg;

	(void)parent;
	(void)idx;
	(void)kpos;
	switch (depth) {
	case 0:					/* the root */
	case 2:					/* a partner */
		return JPOS_ENTER;
	case 1:
		return val == st->partners ? JPOS_ENTER : JPOS_SKIP;
	case 3:
		return key && !strcmp(key, "allow") ? JPOS_ENTER : JPOS_SKIP;
	default:				/* a grant */
		if (st->i == st->ng)
			return JPOS_STOP;
		st->g[st->i].line = vpos.line;
		st->g[st->i].col = vpos.col;
		return ++st->i == st->ng ? JPOS_STOP : JPOS_SKIP;
	}
}

static int fill_grant_positions(struct pctx *c, const json_t *root, struct bh_policy *p)
{
	struct gpos st = { .partners = json_object_get(root, "partners"), .g = p->grants,
			   .ng = p->ngrants };

	if (!p->ngrants)
		return 0;
	if (jpos_walk(&c->src, gpos_cb, &st) < 0 || st.i != st.ng)
		return -EINVAL;	/* cannot happen: text and tree come from one parse */
	return 0;
}

/* jansson's own message; a duplicate key is pointed at its start, not its end. */
static void report_json_error(struct pctx *c, const char *text, size_t len, const json_error_t *je)
{
	struct jpos pos = { je->line > 0 ? je->line : 1, je->column > 0 ? je->column : 1 };
	size_t end = je->position > 0 ? (size_t)je->position : 0, j;

	if (!strncmp(je->text, "duplicate object key", 20) && end >= 2 && end <= len &&
	    text[end - 1] == '"') {
		for (j = end - 2; j > 0; j--) {
			size_t bs = 0;

			while (bs < j && text[j - 1 - bs] == '\\')
				bs++;
			if (text[j] == '"' && bs % 2 == 0)
				break;
		}
		pos = jpos_at_offset(text, len, j);
		bh_errors_add(c->errs, "%s:%d:%d: duplicate key %.*s (each partner and key may appear once)",
			      c->name, pos.line, pos.col, (int)(end - j > 80 ? 80 : end - j), text + j);
		return;
	}
	bh_errors_add(c->errs, "%s:%d:%d: %s", c->name, pos.line, pos.col, je->text);
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

/* Put the messages from index from on in file order ("name:line:col: ..."). */
static void sort_errors(struct bh_errors *errs, size_t from, const char *name)
{
	size_t n = errs->n - from, nl = strlen(name), i;
	struct epos *v;

	if (n < 2)
		return;
	v = calloc(n, sizeof(*v));
	if (!v)
		return;		/* discovery order is still correct, just less tidy */
	for (i = 0; i < n; i++) {
		char *m = errs->msg[from + i];

		v[i].idx = i;
		v[i].msg = m;
		if (strncmp(m, name, nl) || sscanf(m + nl, ":%d:%d:", &v[i].line, &v[i].col) != 2)
			v[i].line = v[i].col = 0;
	}
	qsort(v, n, sizeof(*v), epos_cmp);
	for (i = 0; i < n; i++)
		errs->msg[from + i] = v[i].msg;
	free(v);
}

int bh_policy_parse(const char *name, const char *text, size_t len,
		    struct bh_policy *p, struct bh_errors *errs)
{
	size_t first_err = errs->n;
	struct pctx c = { .name = name, .errs = errs, .in_store = 1 };
	struct bindings b = { 0 };
	struct arena a;
	json_error_t je;
	json_t *root;
	int err = 0, in_arena;

	memset(p, 0, sizeof(*p));
	in_arena = arena_begin(&a);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		report_json_error(&c, text, len, &je);
		err = -EINVAL;
		goto out;
	}
	c.src = (struct jpos_src){ .text = text, .len = len, .root = root };
	p->file = strdup(name);
	if (!p->file) {
		err = -ENOMEM;
		goto out;
	}
	err = parse_root(&c, root, p, &b);
	report_pending(&c);
	if (!err && c.failed)
		err = -EINVAL;
	if (!err)
		err = fill_grant_positions(&c, root, p);
	sort_errors(errs, first_err, name);
out:
	if (err == -ENOMEM)
		bh_errors_add(errs, "%s: out of memory", name);
	if (err)
		bh_policy_free(p);
	free(b.v);
	if (in_arena)
		arena_end(&a);		/* the whole DOM at once */
	else
		json_decref(root);
	return err;
}

int bh_grant_parse(const struct bh_policy *p, uint32_t pidx, const char *name,
		   const char *text, struct bh_grant *out, struct bh_errors *errs)
{
	struct pctx c = { .name = name, .errs = errs };
	struct bh_policy one = { 0 };
	size_t len = strlen(text);
	json_error_t je;
	json_t *obj, *arr = NULL;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (pidx >= p->npartners)
		return -EINVAL;
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!obj) {
		report_json_error(&c, text, len, &je);
		return -EINVAL;
	}
	c.src = (struct jpos_src){ .text = text, .len = len, .root = obj };
	/* parse_grant reads allow[i] and appends to a policy: give it both */
	arr = json_array();
	one.grants = calloc(1, sizeof(*one.grants));
	if (!arr || !one.grants || json_array_append(arr, obj)) {
		err = -ENOMEM;
		goto out;
	}
	err = parse_grant(&c, arr, 0, pidx, &one);
	report_pending(&c);
	if (!err && c.failed)
		err = -EINVAL;
	if (!err && one.ngrants == 1) {
		*out = one.grants[0];
		out->id = 0;
	} else if (!err) {
		err = -EINVAL;
	}
out:
	free(one.grants);
	json_decref(arr);
	json_decref(obj);
	return err;
}

int bh_policy_load(const char *path, struct bh_policy *p, struct bh_errors *errs)
{
	size_t len = 0, cap = 0, first = 65536;
	char *buf = NULL, *nb;
	struct stat st;
	FILE *f;
	int err = 0;

	memset(p, 0, sizeof(*p));
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		bh_errors_add(errs, "%s: cannot open: %s", path, strerror(-err));
		return err;
	}
	/* A regular file is read in one go (the byte beyond shows the end). */
	if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < MAX_FILE)
		first = (size_t)st.st_size + 1;
	for (;;) {
		size_t r;

		if (len == cap) {
			cap = cap ? 2 * cap : first;
			if (cap > MAX_FILE) {
				err = -EFBIG;
				bh_errors_add(errs, "%s: larger than %u bytes", path, MAX_FILE);
				goto out;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				bh_errors_add(errs, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (r == 0) {
			if (ferror(f)) {
				err = -EIO;
				bh_errors_add(errs, "%s: read error", path);
				goto out;
			}
			break;
		}
	}
	err = bh_policy_parse(path, buf ? buf : "", len, p, errs);
out:
	free(buf);
	fclose(f);
	return err;
}

void bh_policy_free(struct bh_policy *p)
{
	size_t i, j;

	for (i = 0; i < p->npartners; i++) {
		for (j = 0; j < p->partners[i].ncgroups; j++)
			free(p->partners[i].cgroups[j]);
		free(p->partners[i].cgroups);
		free(p->partners[i].name);
		free(p->partners[i].org);
		free(p->partners[i].contact);
	}
	for (i = 0; i < p->ngrants && !p->store; i++)
		bh_grant_free(&p->grants[i]);
	store_free(p);
	free(p->partners);
	free(p->grants);
	free(p->never);
	free(p->partner_root);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

/* ---------------------------------------------------------------- compile */

void bh_clock_now(struct bh_clock *c)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	c->wall_ns = (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	c->boot_ns = (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* A prefix to place in one partner's trie: the address as two host-order halves. */
struct citem {
	uint64_t hi, lo;
	uint32_t grant;		/* index into p->grants, or NO_GRANT */
	uint8_t plen;
	uint8_t never;
};

#define NO_GRANT UINT32_MAX

static uint64_t mask_hi(int plen)
{
	return plen >= 64 ? ~0ULL : plen <= 0 ? 0 : ~0ULL << (64 - plen);
}

static uint64_t mask_lo(int plen)
{
	return plen <= 64 ? 0 : plen >= 128 ? ~0ULL : ~0ULL << (128 - plen);
}

static struct citem citem_of(const struct bh_prefix *pf, uint32_t grant, uint8_t never)
{
	struct citem it = { .grant = grant, .plen = pf->plen > 128 ? 128 : pf->plen, .never = never };

	for (int i = 0; i < 8; i++) {
		it.hi = it.hi << 8 | pf->addr[i];
		it.lo = it.lo << 8 | pf->addr[8 + i];
	}
	it.hi &= mask_hi(it.plen);
	it.lo &= mask_lo(it.plen);
	return it;
}

/* Order of a sweep: by address, then length (enclosing first), then grant. */
static inline int citem_less(const struct citem *a, const struct citem *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi;
	if (a->lo != b->lo)
		return a->lo < b->lo;
	if (a->plen != b->plen)
		return a->plen < b->plen;
	return a->grant < b->grant;
}

/*
 * Sort v[n] by citem_less with tmp[n] as scratch: sorted runs of 16
 * (insertion), then merged pairwise between v and tmp. qsort would do the
 * same with an indirect call for every comparison, which for a million
 * grants costs more than the rest of the compile.
 */
static void citem_sort(struct citem *v, size_t n, struct citem *tmp)
{
	enum { RUN = 16 };
	struct citem *src = v, *dst = tmp, *t;
	size_t w, i;

	for (i = 0; i < n; i += RUN) {
		size_t end = i + RUN < n ? i + RUN : n;

		for (size_t j = i + 1; j < end; j++) {
			struct citem x = v[j];
			size_t k;

			for (k = j; k > i && citem_less(&x, &v[k - 1]); k--)
				v[k] = v[k - 1];
			v[k] = x;
		}
	}
	for (w = RUN; w < n; w *= 2) {
		for (i = 0; i < n; i += 2 * w) {
			size_t a = i, m = i + w < n ? i + w : n, b = m, e = i + 2 * w < n ? i + 2 * w : n;
			size_t o = i;

			while (a < m && b < e)
				dst[o++] = citem_less(&src[b], &src[a]) ? src[b++] : src[a++];
			while (a < m)
				dst[o++] = src[a++];
			while (b < e)
				dst[o++] = src[b++];
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

static int same_prefix(const struct citem *a, const struct citem *b)
{
	return a->hi == b->hi && a->lo == b->lo && a->plen == b->plen;
}

static int covers(const struct citem *a, const struct citem *b)
{
	return a->plen <= b->plen && !((a->hi ^ b->hi) & mask_hi(a->plen)) &&
	       !((a->lo ^ b->lo) & mask_lo(a->plen));
}

/* a matches every packet b matches, at least as long (expiry 0 = never). */
static int rule_subsumes(const struct bh_rule *a, const struct bh_rule *b)
{
	return (a->proto == BH_PROTO_ANY || a->proto == b->proto) &&
	       a->port_lo <= b->port_lo && b->port_hi <= a->port_hi &&
	       (a->expires_ns == 0 || (b->expires_ns != 0 && a->expires_ns >= b->expires_ns));
}

/*
 * Add r unless a rule already there subsumes it; drop the rules r subsumes.
 * Dropping a subsumed rule changes no decision: whenever it matches, the
 * subsuming rule matches too and is live at least as long.
 */
static int add_rule(struct bh_lpm_val *v, const struct bh_rule *r)
{
	uint8_t i, o = 0;

	for (i = 0; i < v->nrules; i++)
		if (rule_subsumes(&v->rules[i], r))
			return 0;
	for (i = 0; i < v->nrules; i++)
		if (!rule_subsumes(r, &v->rules[i]))
			v->rules[o++] = v->rules[i];
	v->nrules = o;
	if (v->nrules == BH_MAX_RULES)
		return -E2BIG;
	v->rules[v->nrules++] = *r;
	return 0;
}

static uint64_t grant_expiry(const struct bh_grant *g, const struct bh_clock *clk)
{
	int64_t rel;

	if (g->expires_boot_ns)
		return g->expires_boot_ns > clk->boot_ns ? (uint64_t)g->expires_boot_ns : 1;
	if (g->expires_unix_ns) {
		if (__builtin_sub_overflow(g->expires_unix_ns, clk->wall_ns, &rel))
			rel = g->expires_unix_ns < 0 ? -1 : INT64_MAX;
	} else if (g->ttl_ns) {
		rel = g->ttl_ns;
	} else {
		return 0;
	}
	if (rel <= 0)
		return 1;	/* already expired: the kernel reports "expired" */
	return (uint64_t)clk->boot_ns + (uint64_t)rel;
}

static int add_grant_rules(struct bh_lpm_val *v, const struct bh_grant *g, const struct bh_clock *clk)
{
	struct bh_rule r = {
		.expires_ns = grant_expiry(g, clk), .grant = g->id, .proto = g->proto,
		.port_lo = 0, .port_hi = 65535,
	};
	int err = 0;

	if (!g->nports)
		return add_rule(v, &r);
	for (size_t i = 0; i < g->nports; i++) {
		r.port_lo = g->ports[i].lo;
		r.port_hi = g->ports[i].hi;
		if (add_rule(v, &r))
			err = -E2BIG;
	}
	return err;
}

struct cstate {
	const struct bh_policy *p;
	const struct bh_clock *clk;
	struct bh_errors *errs;
	struct citem *items, *scratch;	/* scratch: for citem_sort */
	struct cframe {			/* an enclosing entry of the current one */
		const struct citem *it;
		struct bh_lpm_val val;
		int overflow;
	} *stack;			/* 129 prefix lengths, and the partner default */
	/* Entries are written to keys/vals[nbuf]; a full buffer goes to sink
	 * (never full without a sink: it holds every entry). */
	struct bh_lpm_key *keys;
	struct bh_lpm_val *vals;
	size_t cap, nbuf;
	bh_compile_sink sink;
	void *arg;
	int err;			/* the first error; no batch goes out after it */
	size_t n, nprefixes;
};

#define CSTACK 130

/* Hand the buffered entries over (or, after an error, drop them). */
static void cflush(struct cstate *s)
{
	if (s->nbuf && s->sink && !s->err)
		s->err = s->sink(s->arg, s->keys, s->vals, s->nbuf);
	s->nbuf = 0;
}

/*
 * One partner: sort its prefixes (grants, never list, the default ::/0) by
 * (address, length), so every prefix comes after the prefixes enclosing it,
 * and sweep with a stack of the enclosing chain. An entry starts from a copy
 * of its nearest enclosing entry (which already holds everything above it)
 * and adds its own grants' rules and never flag.
 */
static void compile_partner(struct cstate *s, uint32_t pidx, const uint32_t *grants, size_t ngrants)
{
	const struct bh_policy *p = s->p;
	const struct bh_partner *pt = &p->partners[pidx];
	enum { AHEAD = 8 };
	struct cframe *stack = s->stack;
	size_t n = 0, i, j, depth = 0;
	uint32_t far, near;

	s->items[n++] = (struct citem){ .grant = NO_GRANT };
	for (i = 0; i < p->nnever; i++)
		s->items[n++] = citem_of(&p->never[i], NO_GRANT, 1);
	for (i = 0; i < ngrants; i++)
		s->items[n++] = citem_of(&p->grants[grants[i]].to, grants[i], 0);
	citem_sort(s->items, n, s->scratch);

	for (i = 0; i < n; i = j) {
		const struct citem *cur = &s->items[i];
		struct bh_lpm_key *k;
		struct bh_lpm_val *v;
		int has_grant = 0, overflow = 0;

		/* Grants are read in address order, which is no order in
		 * memory: a cache miss for the grant and one for its ports,
		 * every time, unless fetched a few items ahead (the grant
		 * first, its ports once the grant is in). In this function,
		 * not a helper: GCC takes a function doing nothing but
		 * prefetches for pure and drops its calls. */
		far = s->items[i + 2 * AHEAD < n ? i + 2 * AHEAD : n - 1].grant;
		near = s->items[i + AHEAD < n ? i + AHEAD : n - 1].grant;
		if (far != NO_GRANT) {
			__builtin_prefetch(&p->grants[far]);
			__builtin_prefetch((const char *)&p->grants[far + 1] - 1);
		}
		if (near != NO_GRANT)
			__builtin_prefetch(p->grants[near].ports);

		while (depth && !covers(stack[depth - 1].it, cur))
			depth--;
		if (s->nbuf == s->cap)
			cflush(s);
		k = &s->keys[s->nbuf];
		v = &s->vals[s->nbuf++];
		s->n++;
		k->prefixlen = 32 + cur->plen;
		k->partner = htonl(pt->id);
		for (int b = 0; b < 8; b++) {
			k->addr[b] = (uint8_t)(cur->hi >> (56 - 8 * b));
			k->addr[8 + b] = (uint8_t)(cur->lo >> (56 - 8 * b));
		}
		if (depth)
			*v = stack[depth - 1].val;
		else
			memset(v, 0, sizeof(*v));
		v->mode = pt->mode;
		for (j = i; j < n && same_prefix(&s->items[j], cur); j++) {
			const struct bh_grant *g;
			struct bh_prefix pf;
			char buf[BH_PREFIX_STRLEN];

			if (s->items[j].never) {
				v->flags |= BH_ENTRY_NEVER;
				continue;
			}
			if (s->items[j].grant == NO_GRANT)
				continue;
			has_grant = 1;
			g = &p->grants[s->items[j].grant];
			if (!add_grant_rules(v, g, s->clk) || overflow)
				continue;
			overflow = 1;
			if (!s->err)
				s->err = -E2BIG;
			if (depth && stack[depth - 1].overflow)
				continue;	/* already reported for the enclosing prefix */
			memcpy(pf.addr, k->addr, sizeof(pf.addr));
			pf.plen = cur->plen;
			bh_errors_add(s->errs,
				      "%s:%d:%d: %s of partner %s needs more than %d port/proto rules "
				      "with this grant and the grants covering it; merge port lists "
				      "or use fewer overlapping grants",
				      p->file ? p->file : "policy", g->line, g->col,
				      bh_prefix_str(&pf, buf, sizeof(buf)), Q(pt->name), BH_MAX_RULES);
		}
		s->nprefixes += has_grant;
		stack[depth].it = cur;
		stack[depth].val = *v;
		stack[depth].overflow = overflow || (depth && stack[depth - 1].overflow);
		depth++;
	}
}

size_t bh_compile_max_entries(const struct bh_policy *p)
{
	return p->ngrants + p->npartners * (p->nnever + 1);
}

/*
 * Compile into buffers of s->cap entries allocated here (s->keys, s->vals),
 * handing full ones to s->sink; s->n and s->nprefixes count. On error the
 * buffers are freed.
 */
static int compile(struct cstate *s)
{
	const struct bh_policy *p = s->p;
	size_t *start = NULL, *fill = NULL, maxg = 0, i;
	uint32_t *order = NULL;
	int err = 0;

	start = calloc(p->npartners + 1, sizeof(*start));
	fill = calloc(p->npartners + 1, sizeof(*fill));
	order = calloc(p->ngrants + 1, sizeof(*order));
	s->stack = calloc(CSTACK, sizeof(*s->stack));
	s->keys = malloc(s->cap * sizeof(*s->keys));
	s->vals = malloc(s->cap * sizeof(*s->vals));
	if (!start || !fill || !order || !s->stack || !s->keys || !s->vals) {
		err = -ENOMEM;
		goto out;
	}
	/* Group grant indices by partner (counting sort keeps file order). */
	for (i = 0; i < p->ngrants; i++) {
		if (p->grants[i].partner_idx >= p->npartners) {
			bh_errors_add(s->errs, "%s: grant %u has no partner", p->file ? p->file : "policy",
				      p->grants[i].id);
			err = -EINVAL;
			goto out;
		}
		start[p->grants[i].partner_idx + 1]++;
	}
	for (i = 0; i < p->npartners; i++) {
		if (start[i + 1] > maxg)
			maxg = start[i + 1];
		start[i + 1] += start[i];
		fill[i] = start[i];
	}
	for (i = 0; i < p->ngrants; i++)
		order[fill[p->grants[i].partner_idx]++] = (uint32_t)i;

	s->items = calloc(maxg + p->nnever + 1, sizeof(*s->items));
	s->scratch = calloc(maxg + p->nnever + 1, sizeof(*s->scratch));
	if (!s->items || !s->scratch) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < p->npartners; i++)
		compile_partner(s, (uint32_t)i, order + start[i], start[i + 1] - start[i]);
	cflush(s);
	err = s->err;
out:
	if (err == -ENOMEM)
		bh_errors_add(s->errs, "%s: out of memory compiling the policy",
			      p->file ? p->file : "policy");
	if (err) {
		free(s->keys);
		free(s->vals);
		s->keys = NULL;
		s->vals = NULL;
	}
	free(s->items);
	free(s->scratch);
	free(s->stack);
	free(order);
	free(fill);
	free(start);
	return err;
}

int bh_compile(const struct bh_policy *p, const struct bh_clock *clk,
	       struct bh_compiled *out, struct bh_errors *errs)
{
	struct cstate s = { .p = p, .clk = clk, .errs = errs,
			    .cap = bh_compile_max_entries(p) + 1 };	/* never flushed */
	int err;

	memset(out, 0, sizeof(*out));
	err = compile(&s);
	if (err)
		return err;
	out->keys = s.keys;
	out->vals = s.vals;
	out->n = s.n;
	out->nprefixes = s.nprefixes;
	return 0;
}

int bh_compile_stream(const struct bh_policy *p, const struct bh_clock *clk,
		      bh_compile_sink sink, void *arg, struct bh_compiled *counts,
		      struct bh_errors *errs)
{
	struct cstate s = { .p = p, .clk = clk, .errs = errs, .sink = sink, .arg = arg,
			    .cap = BH_COMPILE_BATCH };
	int err;

	memset(counts, 0, sizeof(*counts));
	err = compile(&s);
	free(s.keys);
	free(s.vals);
	counts->n = s.n;
	counts->nprefixes = s.nprefixes;
	return err;
}

void bh_compiled_free(struct bh_compiled *c)
{
	free(c->keys);
	free(c->vals);
	memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------- summary */

static const char *mode_str(uint8_t m)
{
	return m == BH_MODE_AUDIT ? "audit" : "enforce";
}

static json_t *summary_json(const struct bh_policy *p, const struct bh_compiled *c,
			    const size_t *per)
{
	json_t *o = json_object(), *parts = json_array(), *never = json_array();
	char buf[BH_PREFIX_STRLEN];
	size_t i, j;
	int ok = 0;

	if (!o || !parts || !never)
		goto out;
	for (i = 0; i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];
		json_t *cg = json_array();

		if (!cg || json_array_append_new(parts, json_pack("{s:s, s:I, s:s, s:o, s:I, s:s?, s:s?}",
				"name", pt->name, "id", (json_int_t)pt->id, "mode", mode_str(pt->mode),
				"cgroups", cg, "grants", (json_int_t)per[i], "org", pt->org,
				"contact", pt->contact)))
			goto out;
		for (j = 0; j < pt->ncgroups; j++)
			if (json_array_append_new(cg, json_string(pt->cgroups[j])))
				goto out;
	}
	for (i = 0; i < p->nnever; i++)
		if (json_array_append_new(never, json_string(bh_prefix_str(&p->never[i], buf, sizeof(buf)))))
			goto out;
	if (json_object_set_new(o, "file", p->file ? json_string(p->file) : json_null()) ||
	    json_object_set_new(o, "version", json_integer(1)) ||
	    json_object_set_new(o, "partner_root",
				p->partner_root ? json_string(p->partner_root) : json_null()) ||
	    json_object_set(o, "partners", parts) ||
	    json_object_set_new(o, "grants", json_integer((json_int_t)p->ngrants)) ||
	    json_object_set(o, "never", never))
		goto out;
	if (c && (json_object_set_new(o, "trie_entries", json_integer((json_int_t)c->n)) ||
		  json_object_set_new(o, "grant_prefixes", json_integer((json_int_t)c->nprefixes))))
		goto out;
	ok = 1;
out:
	json_decref(never);
	json_decref(parts);
	if (!ok) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int summary_text(const struct bh_policy *p, const struct bh_compiled *c,
			const size_t *per, FILE *out)
{
	char buf[BH_PREFIX_STRLEN];
	size_t i, j;

	fprintf(out, "%s: policy version 1, %zu partner%s, %zu grant%s, %zu never prefix%s\n",
		p->file ? p->file : "policy", p->npartners, p->npartners == 1 ? "" : "s",
		p->ngrants, p->ngrants == 1 ? "" : "s", p->nnever, p->nnever == 1 ? "" : "es");
	fprintf(out, "partner_root: %s\n", p->partner_root ? p->partner_root : "(none)");
	for (i = 0; i < p->npartners; i++) {
		const struct bh_partner *pt = &p->partners[i];

		fprintf(out, "partner %s (id %u): %s, %zu grant%s, cgroups:", pt->name, pt->id,
			mode_str(pt->mode), per[i], per[i] == 1 ? "" : "s");
		for (j = 0; j < pt->ncgroups; j++)
			fprintf(out, " %s", pt->cgroups[j]);
		if (pt->org || pt->contact)
			fprintf(out, "; org %s, contact %s", pt->org ? pt->org : "(none)",
				pt->contact ? pt->contact : "(none)");
		fputc('\n', out);
	}
	if (p->nnever) {
		fputs("never:", out);
		for (i = 0; i < p->nnever; i++)
			fprintf(out, " %s", bh_prefix_str(&p->never[i], buf, sizeof(buf)));
		fputc('\n', out);
	}
	if (c)
		fprintf(out, "compiled: %zu trie entries, %zu distinct grant prefixes\n",
			c->n, c->nprefixes);
	return ferror(out) ? -EIO : 0;
}

static size_t *grants_per_partner(const struct bh_policy *p)
{
	size_t *per = calloc(p->npartners + 1, sizeof(*per));

	for (size_t i = 0; per && i < p->ngrants; i++)
		if (p->grants[i].partner_idx < p->npartners)
			per[p->grants[i].partner_idx]++;
	return per;
}

json_t *bh_policy_summary_json(const struct bh_policy *p, const struct bh_compiled *c)
{
	size_t *per = grants_per_partner(p);
	json_t *o = per ? summary_json(p, c, per) : NULL;

	free(per);
	return o;
}

int bh_policy_summary(const struct bh_policy *p, const struct bh_compiled *c,
		      FILE *out, int json)
{
	size_t *per;
	json_t *o;
	int err;

	if (json) {
		o = bh_policy_summary_json(p, c);
		if (!o)
			return -ENOMEM;
		err = json_dumpf(o, out, JSON_COMPACT) || fputc('\n', out) == EOF ? -EIO : 0;
		json_decref(o);
		return err;
	}
	per = grants_per_partner(p);
	if (!per)
		return -ENOMEM;
	err = summary_text(p, c, per, out);
	free(per);
	return err;
}
