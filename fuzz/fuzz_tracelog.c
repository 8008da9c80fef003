// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: one log line through bh_tev_parse (user/tracelog.c), the
 * reader of `bulkhead trace`, and the decoding of the strings it found.
 */
#include "fuzz.h"
#include "tracelog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bh_tev ev;
	size_t col = 0;
	char out[64];

	if (bh_tev_parse((const char *)data, size, &ev, &col)) {
		if (col > size + 1)
			abort();
		return 0;
	}
	if (!fz_utf8_ok(bh_tstr_get(&ev.partner, out, sizeof(out))) ||
	    !fz_utf8_ok(bh_tstr_get(&ev.comm, out, sizeof(out))) ||
	    !fz_utf8_ok(bh_tstr_get(&ev.dst, out, sizeof(out))))
		abort();
	(void)bh_tstr_eq(&ev.verdict, "deny");
	return 0;
}
