// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the one-value parsers of user/values.c. The first byte
 * picks the parser, the rest is the value as a C string; a value taken must
 * be in range, and a reason given must be UTF-8.
 */
#include "fuzz.h"

static void check_why(const char *why)
{
	if (!fz_utf8_ok(why))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[BH_REASON_LEN] = "";
	struct bh_prefix pf;
	struct bh_port_range r[4];
	int64_t ns;
	char *s, *cg = NULL, buf[BH_PREFIX_STRLEN];

	if (!size)
		return 0;
	s = fz_cstr(data + 1, size - 1);
	switch (data[0] % 7) {
	case 0:
		if (!bh_parse_prefix(s, &pf, why) && (pf.plen > 128 || !bh_prefix_str(&pf, buf, sizeof(buf))))
			abort();
		break;
	case 1:
		if (!bh_parse_port(s, r, why) && (!r->lo || r->lo > r->hi))
			abort();
		break;
	case 2:
		if (!bh_parse_rfc3339(s, &ns, why) && ns < 1)
			abort();
		break;
	case 3:
		if (!bh_parse_ttl(s, &ns, why) && ns < 1)
			abort();
		break;
	case 4:
		if (!bh_parse_cgroup_path(s, &cg, why) && (!cg || !*cg || *cg == '/'))
			abort();
		free(cg);
		break;
	case 5:
		(void)bh_valid_partner_name(s);
		break;
	default:
		if (size >= 9) {
			int64_t v;

			memcpy(&v, data + 1, sizeof(v));
			if (!bh_port_of_int(v, r, why) && (v < 1 || v > 65535))
				abort();
		}
	}
	check_why(why);
	free(s);
	return 0;
}
