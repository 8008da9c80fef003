// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Parsers of one policy value from a buffer (values.h): prefixes, ports,
 * RFC 3339 instants, ttls, cgroup paths and partner names (protocol and
 * mode names are in names.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bulkhead/bulkhead.h>
#include "clock.h"
#include "errors.h"
#include "values.h"

#define MAX_NAME	64
#define MAX_CGPATH	4095

/* ---------------------------------------------------------------- prefix */

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

/* The "/n" after s's address: 0..max into *n; -EINVAL (why) otherwise. */
static int parse_plen(const char *s, const char *slash, int max, unsigned long *n, char *why)
{
	size_t k = strspn(slash + 1, "0123456789");

	if (k == 0 || k > 3 || slash[1 + k]) {
		snprintf(why, BH_REASON_LEN, "bad prefix length in %s", BH_Q(s));
		return -EINVAL;
	}
	*n = strtoul(slash + 1, NULL, 10);
	if (*n > (unsigned long)max) {
		snprintf(why, BH_REASON_LEN, "prefix length /%lu out of range (0-%d) in %s",
			 *n, max, BH_Q(s));
		return -EINVAL;
	}
	return 0;
}

int bh_parse_prefix(const char *s, struct bh_prefix *pf, char *why)
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
	if (slash && parse_plen(s, slash, max, &n, why))
		return -EINVAL;
	pf->plen = (uint8_t)(v6 ? n : 96 + n);
	m = *pf;
	prefix_mask(&m);
	if (memcmp(m.addr, pf->addr, sizeof(m.addr))) {
		char one[64];
		struct bh_prefix host = *pf;
		unsigned long bits = (unsigned long)max - n;

		host.plen = 128;
		bh_prefix_str(&host, one, sizeof(one));
		if (bits < 32)
			snprintf(why, BH_REASON_LEN, "host bits set in %s: write %s for that one "
				 "address, or %s for the whole prefix (%lu addresses)", BH_Q(s), one,
				 bh_prefix_str(&m, alt, sizeof(alt)), 1ul << bits);
		else
			snprintf(why, BH_REASON_LEN, "host bits set in %s: write %s for that one "
				 "address, or %s for the whole prefix (2^%lu addresses)", BH_Q(s),
				 one, bh_prefix_str(&m, alt, sizeof(alt)), bits);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(why, BH_REASON_LEN, "bad address %s: expected an IPv4 or IPv6 address or CIDR",
		 BH_Q(s));
	return -EINVAL;
}

/* ----------------------------------------------------------------- ports */

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

static int check_port(int64_t v, char *why)
{
	if (v >= 1 && v <= 65535)
		return 0;
	snprintf(why, BH_REASON_LEN, "port %" PRId64 " out of range (1-65535)", v);
	return -EINVAL;
}

int bh_port_of_int(int64_t v, struct bh_port_range *r, char *why)
{
	if (check_port(v, why))
		return -EINVAL;
	r->lo = r->hi = (uint16_t)v;
	return 0;
}

int bh_parse_port(const char *s, struct bh_port_range *r, char *why)
{
	const char *dash = strchr(s, '-');
	long lo, hi;

	lo = parse_digits(s, dash ? (size_t)(dash - s) : strlen(s));
	hi = dash ? parse_digits(dash + 1, strlen(dash + 1)) : lo;
	if (lo < 0 || hi < 0) {
		snprintf(why, BH_REASON_LEN, "bad port %s: expected \"443\" or \"8000-8100\"", BH_Q(s));
		return -EINVAL;
	}
	if (check_port(lo, why) || check_port(hi, why))
		return -EINVAL;
	if (lo > hi) {
		snprintf(why, BH_REASON_LEN, "reversed port range %ld-%ld (did you mean %ld-%ld?)",
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

size_t bh_port_ranges_merge(struct bh_port_range *r, size_t n)
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

/* ------------------------------------------------------------------ time */

static int digits_at(const char *s, const char *pattern)
{
	for (size_t i = 0; pattern[i]; i++) {
		if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
			return 0;
	}
	return 1;
}

/* ".frac" (optional, digits beyond ns ignored) at *r into *frac ns; -1: bad. */
static int parse_frac(const char **r, int64_t *frac)
{
	int64_t scale = BH_NS_PER_SEC;
	const char *c = *r;

	*frac = 0;
	if (*c != '.')
		return 0;
	if (c[1] < '0' || c[1] > '9')
		return -1;
	for (c++; *c >= '0' && *c <= '9'; c++) {
		if (scale > 1) {
			scale /= 10;
			*frac += (*c - '0') * scale;
		}
	}
	*r = c;
	return 0;
}

/* "Z", "+hh:mm" or "-hh:mm", and nothing after, into *off seconds; -1: bad. */
static int parse_offset(const char *r, int64_t *off)
{
	*off = 0;
	if (*r == 'Z' || *r == 'z')
		return r[1] ? -1 : 0;
	if ((*r == '+' || *r == '-') && digits_at(r + 1, "dd:dd")) {
		int hh = (r[1] - '0') * 10 + (r[2] - '0'), mm = (r[4] - '0') * 10 + (r[5] - '0');

		if (hh > 23 || mm > 59 || r[6])
			return -1;
		*off = (hh * 3600 + mm * 60) * (*r == '-' ? -1 : 1);
		return 0;
	}
	return -1;
}

/* "YYYY-MM-DDTHH:MM:SS" at s (strptime) into *tm; -1: bad. */
static int parse_date_time(const char *s, struct tm *tm)
{
	char buf[20];
	const char *r;

	if (strlen(s) < 20 || !digits_at(s, "dddd-dd-dd") || !strchr("Tt", s[10]) ||
	    !digits_at(s + 11, "dd:dd:dd"))
		return -1;
	memcpy(buf, s, 19);
	buf[10] = 'T';
	buf[19] = '\0';
	r = strptime(buf, "%Y-%m-%dT%H:%M:%S", tm);
	return r && !*r ? 0 : -1;
}

int bh_parse_rfc3339(const char *s, int64_t *unix_ns, char *why)
{
	struct tm tm = { 0 }, back;
	const char *r = s + 19;
	int64_t frac, off, leap = 0, secs;
	time_t t;

	if (parse_date_time(s, &tm) || parse_frac(&r, &frac) || parse_offset(r, &off)) {
		snprintf(why, BH_REASON_LEN,
			 "bad expires %s: expected RFC 3339, like \"2026-12-01T00:00:00Z\"", BH_Q(s));
		return -EINVAL;
	}
	if (tm.tm_sec > 60) {	/* strptime takes 61; only :60 is a leap second */
		snprintf(why, BH_REASON_LEN, "no such time: %s (seconds go up to 59, or 60 "
			 "for a leap second)", BH_Q(s));
		return -EINVAL;
	}
	if (tm.tm_sec == 60) {
		tm.tm_sec = 59;
		leap = 1;
	}
	back = tm;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday) {
		snprintf(why, BH_REASON_LEN, "no such date: %s", BH_Q(s));
		return -EINVAL;
	}
	secs = (int64_t)t - off + leap;
	if (secs > INT64_MAX / BH_NS_PER_SEC - 1 || secs < -(INT64_MAX / BH_NS_PER_SEC) + 1) {
		snprintf(why, BH_REASON_LEN, "expires %s out of range", BH_Q(s));
		return -EINVAL;
	}
	*unix_ns = secs * BH_NS_PER_SEC + frac;
	if (*unix_ns < 1)	/* 0 means "no expiry"; anything before 1970 is past anyway */
		*unix_ns = 1;
	return 0;
}

const char *bh_format_ttl(int64_t ns, char *buf, size_t len)
{
	static const struct { int64_t s; char u; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	int64_t sec = ns / BH_NS_PER_SEC;
	size_t i;

	for (i = 0; i < 3 && (sec < units[i].s || sec % units[i].s); i++)
		;
	snprintf(buf, len, "%lld%c", (long long)(sec / units[i].s), units[i].u);
	return buf;
}

int bh_parse_ttl(const char *s, int64_t *ns, char *why)
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
		snprintf(why, BH_REASON_LEN, "ttl %s must be positive", BH_Q(s));
		return -EINVAL;
	}
	if (v > BH_TTL_MAX_S / unit) {
		snprintf(why, BH_REASON_LEN, "ttl %s too long: at most 100 years (\"36525d\"); "
			 "for a grant with no end, give neither ttl nor expires", BH_Q(s));
		return -EINVAL;
	}
	*ns = v * unit * BH_NS_PER_SEC;
	return 0;
bad:
	snprintf(why, BH_REASON_LEN,
		 "bad ttl %s: expected a duration like \"90s\", \"15m\", \"8h\" or \"2d\"", BH_Q(s));
	return -EINVAL;
}

/* ----------------------------------------------------------- cgroups, names */

/*
 * s (leading '/' from b on) names a path below /sys, the cgroup2 mount
 * written into the path (it would be read as a cgroup "sys/fs/cgroup/..."
 * that never exists): say what to write instead.
 */
static int fs_path_error(const char *s, char *why)
{
	static const char *const mounts[] = { "/sys/fs/cgroup/unified/", "/sys/fs/cgroup/" };
	const char *rest = NULL;

	for (size_t i = 0; i < 2 && !rest; i++)
		if (!strncmp(s, mounts[i], strlen(mounts[i])))
			rest = s + strlen(mounts[i]);
	if (rest && *rest && strcmp(rest, "unified") && strcmp(rest, "unified/"))
		snprintf(why, BH_REASON_LEN, "cgroup path %s is a filesystem path: write %s, "
			 "relative to the cgroup2 mount", BH_Q(s), BH_Q(rest));
	else
		snprintf(why, BH_REASON_LEN, "cgroup path %s is a filesystem path: write it "
			 "relative to the cgroup2 mount, like \"partners.slice/acme.service\"",
			 BH_Q(s));
	return -EINVAL;
}

/* Every component of s[b, e) is a name: not empty, "." or "..". */
static int components_ok(const char *s, size_t b, size_t e)
{
	for (const char *c = s + b; c < s + e;) {
		size_t k = strcspn(c, "/");

		if (c + k > s + e)
			k = (size_t)(s + e - c);
		if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += k + 1;
	}
	return 1;
}

int bh_parse_cgroup_path(const char *s, char **out, char *why)
{
	size_t b = strspn(s, "/"), e = strlen(s);

	*out = NULL;
	while (e > b && s[e - 1] == '/')
		e--;
	if (e == b) {
		snprintf(why, BH_REASON_LEN, "cgroup path %s names the cgroup root", BH_Q(s));
		return -EINVAL;
	}
	if (b && !strncmp(s + b, "sys", 3) && (s[b + 3] == '/' || !s[b + 3]))
		return fs_path_error(s, why);
	if (e - b > MAX_CGPATH) {
		snprintf(why, BH_REASON_LEN, "cgroup path %s too long", BH_Q(s));
		return -EINVAL;
	}
	if (!components_ok(s, b, e)) {
		snprintf(why, BH_REASON_LEN, "cgroup path %s has an empty, \".\" or \"..\" component",
			 BH_Q(s));
		return -EINVAL;
	}
	*out = strndup(s + b, e - b);
	return *out ? 0 : -ENOMEM;
}

int bh_valid_partner_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > MAX_NAME || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int bh_parse_label(const char *s, const char *key, char **out, char *why)
{
	size_t i, n = strlen(s);

	if (!n || n >= BH_ORG_LEN) {
		snprintf(why, BH_REASON_LEN, "\"%s\" must be a string of 1 to %d bytes", key,
			 BH_ORG_LEN - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(why, BH_REASON_LEN, "\"%s\" has a control character", key);
			return -EINVAL;
		}
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

