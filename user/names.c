// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Names of the shared enums: one table each (see names.h). */
#include <errno.h>
#include <string.h>
#include <bulkhead/bulkhead.h>
#include "names.h"

#define NAME_OF(tab, v) ((v) < sizeof(tab) / sizeof((tab)[0]) && (tab)[v] ? (tab)[v] : "unknown")

static const char *const verdict_names[BH_VERDICT__MAX] = {
	[BH_VERDICT_ALLOW] = "allow",
	[BH_VERDICT_DENY] = "deny",
	[BH_VERDICT_AUDIT] = "audit",
};

static const char *const reason_names[BH_REASON__MAX] = {
	[BH_REASON_GRANTED] = "granted",
	[BH_REASON_NO_GRANT] = "no_grant",
	[BH_REASON_NEVER] = "never",
	[BH_REASON_EXPIRED] = "expired",
	[BH_REASON_REVOKED] = "revoked",
	[BH_REASON_UNKNOWN_PARTNER] = "unknown_partner",
};

static const char *const hook_names[BH_HOOK__MAX] = {
	[BH_HOOK_CONNECT] = "connect",
	[BH_HOOK_SENDMSG] = "sendmsg",
	[BH_HOOK_EGRESS] = "egress",
	[BH_HOOK_INGRESS] = "ingress",
};

static const char *const mode_names[] = {
	[BH_MODE_ENFORCE] = "enforce",
	[BH_MODE_AUDIT] = "audit",
};

static const char *const proto_names[256] = {
	[BH_PROTO_ANY] = "any",
	[BH_PROTO_ICMP] = "icmp",
	[BH_PROTO_TCP] = "tcp",
	[BH_PROTO_UDP] = "udp",
};

static const char *const severity_names[BH_SEV__MAX] = {
	[BH_SEV_LOW] = "low",
	[BH_SEV_MEDIUM] = "medium",
	[BH_SEV_HIGH] = "high",
	[BH_SEV_CRITICAL] = "critical",
};

const char *bh_severity_str(unsigned int s)
{
	return NAME_OF(severity_names, s);
}

const char *bh_verdict_str(unsigned int v)
{
	return NAME_OF(verdict_names, v);
}

const char *bh_reason_str(unsigned int r)
{
	return NAME_OF(reason_names, r);
}

const char *bh_hook_str(unsigned int h)
{
	return NAME_OF(hook_names, h);
}

const char *bh_mode_str(unsigned int m)
{
	return NAME_OF(mode_names, m);
}

const char *bh_proto_str(unsigned int p)
{
	return p < 256 && proto_names[p] ? proto_names[p] : "other";
}

/* Index of s in tab (n entries), or -1. */
static int index_of(const char *const *tab, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (tab[i] && !strcmp(tab[i], s))
			return (int)i;
	return -1;
}

int bh_proto_parse(const char *s, uint8_t *proto)
{
	int i = index_of(proto_names, sizeof(proto_names) / sizeof(proto_names[0]), s);

	if (i < 0)
		return -EINVAL;
	*proto = (uint8_t)i;
	return 0;
}

int bh_mode_parse(const char *s, uint8_t *mode)
{
	int i = index_of(mode_names, sizeof(mode_names) / sizeof(mode_names[0]), s);

	if (i < 0)
		return -EINVAL;
	*mode = (uint8_t)i;
	return 0;
}

int bh_severity_parse(const char *s, uint8_t *sev)
{
	int i = index_of(severity_names, BH_SEV__MAX, s);

	if (i < 0)
		return -EINVAL;
	*sev = (uint8_t)i;
	return 0;
}

int bh_reason_alerts(unsigned int r)
{
	return r == BH_REASON_NEVER || r == BH_REASON_UNKNOWN_PARTNER || r == BH_REASON_REVOKED;
}
