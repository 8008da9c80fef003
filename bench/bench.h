/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the benchmark's load generators share. */
#ifndef BULKHEAD_BENCH_H
#define BULKHEAD_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Print the usage text and exit 2. */
static inline void usage_exit(const char *text)
{
	fputs(text, stderr);
	exit(2);
}

#endif
