/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Parsers of one policy value from a NUL-terminated buffer: address/CIDR
 * prefix, port or port range, RFC 3339 instant, ttl, cgroup path, partner
 * name, proto and mode names (the policy's name tables live in values.c).
 * Each returns the value or -EINVAL with the reason in why (BH_REASON_LEN
 * bytes, naming the value as written); none touches a map or a global, so
 * each can be unit-tested and fuzzed on its own.
 */
#ifndef BULKHEAD_VALUES_H
#define BULKHEAD_VALUES_H

#include <stddef.h>
#include <stdint.h>

/* holds the longest reason whole: a quoted value (BH_QUOTE_LEN) and its text,
 * so snprintf never cuts one mid-character */
#define BH_REASON_LEN 512

struct bh_port_range {
	uint16_t lo, hi;		/* inclusive, host order */
};

struct bh_prefix {
	uint8_t addr[16];		/* IPv6; IPv4 as ::ffff:a.b.c.d */
	uint8_t plen;			/* 0..128 in that 128-bit space (IPv4 /n = 96+n) */
};

/*
 * "a.b.c.d", "a.b.c.d/n", IPv6 and IPv6/n (inet_pton). IPv4 is stored
 * IPv4-mapped, so ::ffff:a.b.c.d/n (n >= 96) is the same prefix as
 * a.b.c.d/(n-96). Host bits set below the length are an error.
 */
int bh_parse_prefix(const char *s, struct bh_prefix *pf, char *why);

/* "10.0.0.0/8" style text of a prefix (IPv4-mapped shown as IPv4). */
#define BH_PREFIX_STRLEN 64	/* enough for any prefix */
const char *bh_prefix_str(const struct bh_prefix *pf, char *buf, size_t len);

/* "443" or "8000-8100": 1-65535, lo <= hi. */
int bh_parse_port(const char *s, struct bh_port_range *r, char *why);
/* A port given as a number (a JSON integer): 1-65535. */
int bh_port_of_int(int64_t v, struct bh_port_range *r, char *why);
/* A port list: sort r[n] and merge overlapping or adjacent ranges; the new n. */
size_t bh_port_ranges_merge(struct bh_port_range *r, size_t n);

/*
 * RFC 3339 date-time (strptime, timegm): YYYY-MM-DDTHH:MM:SS[.frac]
 * (Z|+hh:mm|-hh:mm), 'T'/'Z' in either case, the date must exist, second 60
 * (a leap second) accepted. *unix_ns >= 1 (anything before 1970 is past).
 */
int bh_parse_rfc3339(const char *s, int64_t *unix_ns, char *why);

/* "90s", "15m", "8h", "2d": a positive count and one unit, at most 100 years
 * (BH_TTL_MAX_S), so that a clock plus a ttl never overflows. */
#define BH_TTL_MAX_S (36525ll * 86400)
int bh_parse_ttl(const char *s, int64_t *ns, char *why);
/* The reverse: ns (whole seconds) in the largest unit that divides it ("8h"). */
const char *bh_format_ttl(int64_t ns, char *buf, size_t len);

/*
 * A cgroup path relative to the cgroup2 mount into *out (malloc'd): leading
 * and trailing '/' stripped; no empty, "." or ".." component; not the root;
 * not a filesystem path below /sys. -EINVAL (why) or -ENOMEM.
 */
int bh_parse_cgroup_path(const char *s, char **out, char *why);

/* 1-64 characters of A-Z a-z 0-9 . _ -, not "." or "..": 1, else 0. */
int bh_valid_partner_name(const char *s);

/* A partner's org or contact (key names it in why) into *out (malloc'd): 1 to
 * BH_ORG_LEN - 1 bytes without control characters (it goes into every event
 * of the partner). -EINVAL (why) or -ENOMEM. */
int bh_parse_label(const char *s, const char *key, char **out, char *why);

#endif
