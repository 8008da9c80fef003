// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Values as the events write them: RFC 3339 timestamps (boot and wall
 * clock), kernel bytes made valid UTF-8, addresses (see text.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "text.h"

#define NS_PER_SEC 1000000000ll

/* "YYYY-MM-DDTHH:MM:SS" of the last second formatted, per thread: events come
 * in bursts within one second, and gmtime_r + snprintf cost more than the
 * rest of a timestamp. */
static __thread struct {
	int64_t sec;
	int valid;
	char text[32];
} ts_cache;

static void format_wall(int64_t wall_ns, char *buf, size_t len)
{
	int64_t sec = wall_ns / NS_PER_SEC, rem = wall_ns % NS_PER_SEC;
	uint32_t usec;
	size_t n;
	char frac[9];
	int i;

	if (rem < 0) {		/* floor, so times before 1970 stay correct */
		rem += NS_PER_SEC;
		sec--;
	}
	if (!ts_cache.valid || ts_cache.sec != sec) {
		struct tm tm;
		time_t t = (time_t)sec;

		if (!gmtime_r(&t, &tm) ||
		    snprintf(ts_cache.text, sizeof(ts_cache.text), "%04d-%02d-%02dT%02d:%02d:%02d",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec) >= (int)sizeof(ts_cache.text)) {
			snprintf(buf, len, "1970-01-01T00:00:00.000000Z");
			return;
		}
		ts_cache.sec = sec;
		ts_cache.valid = 1;
	}
	usec = (uint32_t)(rem / 1000);
	frac[0] = '.';
	for (i = 6; i >= 1; i--, usec /= 10)
		frac[i] = (char)('0' + usec % 10);
	frac[7] = 'Z';
	frac[8] = '\0';
	n = strlen(ts_cache.text);
	if (len < n + sizeof(frac)) {
		if (len)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, ts_cache.text, n);
	memcpy(buf + n, frac, sizeof(frac));
}

void bh_format_ts(int64_t boot_ns, const struct bh_clock *clk, char *buf, size_t len)
{
	int64_t wall;

	/* kernel-supplied: an instant beyond the year 2262 or before 1677 (a
	 * damaged record) saturates instead of wrapping */
	if (__builtin_sub_overflow(boot_ns, clk->boot_ns, &wall) ||
	    __builtin_add_overflow(wall, clk->wall_ns, &wall))
		wall = boot_ns < clk->boot_ns ? INT64_MIN : INT64_MAX;
	format_wall(wall, buf, len);
}

void bh_format_now(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	format_wall((int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec, buf, len);
}

size_t bh_utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;	/* UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;	/* overlong */
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;	/* above U+10FFFF */
		return 4;
	}
	return 0;		/* continuation byte, 0xc0, 0xc1, 0xf5..0xff */
}

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

char *bh_sanitize(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	if (!outlen)
		return out;
	while (i < len && in[i]) {
		const void *src = in + i;
		size_t n = bh_utf8_len(in + i, len - i), k;

		/* a sequence cut by NUL is invalid too: utf8_len saw a non-0x80 byte */
		if (!n) {
			src = replacement;
			k = 3;
			n = 1;
		} else if ((n == 1 && (in[i] < 0x20 || in[i] == 0x7f)) ||
			   (n == 2 && in[i] == 0xc2 && in[i + 1] < 0xa0)) {
			src = replacement;	/* C0, DEL and C1 control characters */
			k = 3;
		} else {
			k = n;
		}
		if (o + k >= outlen)
			break;		/* never cut a character: stop before it */
		memcpy(out + o, src, k);
		o += k;
		i += n;
	}
	out[o] = '\0';
	return out;
}

const char *bh_addr_str(const uint8_t addr[16], char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (!memcmp(addr, v4mapped, sizeof(v4mapped))) {
		if (!inet_ntop(AF_INET, addr + 12, buf, len))
			snprintf(buf, len, "?");
	} else if (!inet_ntop(AF_INET6, addr, buf, len)) {
		snprintf(buf, len, "?");
	}
	return buf;
}

void bh_format_unix_ts(int64_t unix_ns, char *buf, size_t len)
{
	/* a clock whose boot and wall time agree maps the instant onto itself */
	const struct bh_clock same = { .wall_ns = 0, .boot_ns = 0 };

	bh_format_ts(unix_ns, &same, buf, len);
}

