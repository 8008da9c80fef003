/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead why PARTNER DEST[:PORT][/PROTO]`: the verdict the loaded maps give
 * now (the pinned trie, bh_pnames, the JIT records) and why; works with the
 * daemon down. The DEST[:PORT][/PROTO] parser lives here too.
 */
#ifndef BULKHEAD_WHY_H
#define BULKHEAD_WHY_H

#include <stdint.h>
#include "values.h"

struct bh_target {
	struct bh_prefix addr;		/* one address: plen 128 */
	uint16_t port;			/* 0 for icmp */
	uint8_t proto;			/* tcp, udp or icmp */
};

/* "10.1.2.3:443", "10.1.2.3:53/udp", "[fd00::1]:443/tcp", "10.1.2.3/icmp",
 * "fd00::1/icmp". A port without a proto is tcp. 0 or -EINVAL (why). */
int bh_parse_target(const char *s, struct bh_target *t, char *why);

struct bh_maps;
/* PARTNER's kernel id in bh_pnames. 0 or -ENOENT. */
int bh_why_partner_id(const struct bh_maps *m, const char *name, uint32_t *id);

int bh_cmd_why(int argc, char **argv);

#endif
