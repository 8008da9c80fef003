/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * SHA-256 (FIPS 180-4) of a buffer, and its hex form: the hash of the policy
 * text in force, as `status` shows it and `sha256sum FILE` prints it.
 */
#ifndef BULKHEAD_SHA256_H
#define BULKHEAD_SHA256_H

#include <stddef.h>
#include <stdint.h>

void bh_sha256(const void *data, size_t len, uint8_t out[32]);
/* 64 hex digits and a NUL into hex. */
void bh_sha256_hex(const uint8_t sum[32], char hex[65]);

#endif
