// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: a policy file as a buffer through bh_policy_parse
 * (parse, validate) and bh_compile; every error message must be UTF-8.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bh_clock clk = { .wall_ns = 1795432831ll * BH_NS_PER_SEC,
					     .boot_ns = 5 * BH_NS_PER_SEC };
	struct bh_policy p = { 0 };
	struct bh_errors e = { 0 };
	struct bh_compiled c = { 0 };

	if (!bh_policy_parse("fuzz.json", (const char *)data, size, &p, &e)) {
		if (!bh_compile(&p, &clk, &c, &e))
			bh_compiled_free(&c);
		bh_policy_free(&p);
	}
	fz_check_errors(&e);
	bh_errors_free(&e);
	return 0;
}
