/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Values as the events write them: timestamps, sanitised text, addresses. */
#ifndef BULKHEAD_TEXT_H
#define BULKHEAD_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "policy.h"

/* "2026-11-23T11:20:31.123456Z" and its NUL (with room for years > 9999). */
#define BH_TS_LEN 40

/* Kernel CLOCK_BOOTTIME ns -> RFC 3339 UTC with microseconds
 * ("2026-11-23T11:20:31.123456Z"), using the clock pair in clk. */
void bh_format_ts(int64_t boot_ns, const struct bh_clock *clk, char *buf, size_t len);
/* Wall-clock now, same format. */
void bh_format_now(char *buf, size_t len);

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
size_t bh_utf8_len(const uint8_t *p, size_t n);

/* Copy kernel-supplied bytes into valid UTF-8: valid UTF-8 sequences are kept
 * (quotes and backslashes too: jansson escapes them), every byte that starts
 * no valid sequence (overlong, surrogate, > U+10FFFF, truncated) becomes
 * U+FFFD, and so do control characters (C0, DEL, C1). Stops at NUL or len;
 * out is always terminated and never ends in a cut character. Returns out. */
char *bh_sanitize(const uint8_t *in, size_t len, char *out, size_t outlen);

/* Address text: IPv4-mapped shown as IPv4. */
const char *bh_addr_str(const uint8_t addr[16], char *buf, size_t len);

/* A wall-clock instant (ns since the epoch) as the events write timestamps. */
void bh_format_unix_ts(int64_t unix_ns, char *buf, size_t len);

#endif
