/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every libFuzzer target under fuzz/ shares: a NUL-terminated copy of
 * the input, the UTF-8 check every message and JSON text must pass, and the
 * policy a control request is parsed against (examples/policy.json's shape,
 * built in, so a target needs no file).
 */
#ifndef BULKHEAD_FUZZ_H
#define BULKHEAD_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy.h"

/* data as a malloc'd C string (an embedded NUL ends it early, as for the
 * daemon, which reads C strings out of JSON). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF): 1, else 0. */
static inline int fz_utf8_ok(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	while (*p) {
		uint32_t c = *p;
		int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 :
			(c & 0xf8) == 0xf0 ? 3 : -1;
		uint32_t min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;

		if (n < 0)
			return 0;
		c &= 0x7f >> n;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i] & 0x3f);
		}
		if (n && (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)))
			return 0;
		p += n + 1;
	}
	return 1;
}

/* Every message in e is valid UTF-8 (what a JSON reply can carry). */
static inline void fz_check_errors(const struct bh_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		if (!fz_utf8_ok(e->msg[i])) {
			fprintf(stderr, "message not UTF-8: %s\n", e->msg[i]);
			abort();
		}
}

static const char fz_policy_text[] =
	"{\"version\":1,\"never\":[\"169.254.169.254\"],\"partners\":{"
	"\"acme\":{\"cgroups\":[\"partners.slice/acme.service\"],\"mode\":\"enforce\","
	"\"allow\":[{\"to\":\"10.20.0.0/16\",\"proto\":\"tcp\",\"ports\":[443],"
	"\"purpose\":\"billing\"},{\"to\":\"10.30.0.5\",\"ttl\":\"8h\"}]},"
	"\"beta\":{\"cgroups\":[\"partners.slice/beta.service\"],\"mode\":\"audit\","
	"\"allow\":[{\"to\":\"::1/128\",\"proto\":\"udp\",\"ports\":[\"53-54\"]}]}}}";

/* The policy in force (parsed once; never freed). */
static inline const struct bh_policy *fz_policy(void)
{
	static struct bh_policy p;
	static int done;

	if (!done) {
		struct bh_errors e = { 0 };

		if (bh_policy_parse("fuzz.json", fz_policy_text, strlen(fz_policy_text), &p, &e)) {
			for (size_t i = 0; i < e.n; i++)
				fprintf(stderr, "%s\n", e.msg[i]);
			abort();
		}
		bh_errors_free(&e);
		done = 1;
	}
	return &p;
}
#endif
