// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The clocks (clock.h): CLOCK_REALTIME and CLOCK_BOOTTIME in ns, and the
 * pair of both that expiries and timestamps are converted through.
 */
#include <time.h>
#include "clock.h"

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * BH_NS_PER_SEC + ts.tv_nsec;
}

int64_t bh_clock_boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

int64_t bh_clock_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void bh_clock_now(struct bh_clock *c)
{
	c->wall_ns = bh_clock_wall_ns();
	c->boot_ns = bh_clock_boot_ns();
}
