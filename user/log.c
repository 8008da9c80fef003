// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The log level pr_warn/pr_info/pr_debug obey (log.h). */
#include <stdio.h>
#include "log.h"

int bh_log_level = BH_LOG_INFO;

void bh_log(enum bh_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > bh_log_level)
		return;
	va_start(ap, fmt);
	fputs("bulkhead: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
