/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The two clocks: CLOCK_REALTIME (what policies and people write) and
 * CLOCK_BOOTTIME (what the kernel enforces expiries and stamps records by),
 * read as one pair, and the conversions between them through that pair.
 * Self-contained: include it for the clock alone.
 */
#ifndef BULKHEAD_CLOCK_H
#define BULKHEAD_CLOCK_H

#include <stdint.h>

#define BH_NS_PER_SEC 1000000000LL

/* Clocks used to turn wall-clock expiries and ttls into CLOCK_BOOTTIME ns. */
struct bh_clock {
	int64_t wall_ns;		/* CLOCK_REALTIME now */
	int64_t boot_ns;		/* CLOCK_BOOTTIME now */
};

void bh_clock_now(struct bh_clock *c);

/* CLOCK_BOOTTIME and CLOCK_REALTIME now, in ns. */
int64_t bh_clock_boot_ns(void);
int64_t bh_clock_wall_ns(void);

/* A CLOCK_REALTIME instant as CLOCK_BOOTTIME, and back, through the pair c. */
/* a + b for an instant a and a duration b >= 0, saturating at INT64_MAX (a
 * ttl, bounded as it is, cannot reach it; the sum must still never wrap). */
static inline int64_t bh_ns_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? (b < 0 ? INT64_MIN : INT64_MAX) : r;
}

static inline int64_t bh_clock_wall_to_boot(const struct bh_clock *c, int64_t wall_ns)
{
	return wall_ns - c->wall_ns + c->boot_ns;
}

static inline int64_t bh_clock_boot_to_wall(const struct bh_clock *c, int64_t boot_ns)
{
	return boot_ns - c->boot_ns + c->wall_ns;
}

#endif
