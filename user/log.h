/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One logging header for the whole binary: pr_warn/pr_info/pr_debug to stderr. */
#ifndef BULKHEAD_LOG_H
#define BULKHEAD_LOG_H

#include <stdarg.h>

enum bh_log_level { BH_LOG_WARN = 0, BH_LOG_INFO = 1, BH_LOG_DEBUG = 2 };

extern int bh_log_level;

void bh_log(enum bh_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_warn(...)  bh_log(BH_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  bh_log(BH_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) bh_log(BH_LOG_DEBUG, __VA_ARGS__)

#endif
