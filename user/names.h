/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Names of the shared enums (include/bulkhead/): the one table for each, as
 * the event schema (docs/events.md), `status` and the logs write them.
 */
#ifndef BULKHEAD_NAMES_H
#define BULKHEAD_NAMES_H

#include <stdint.h>

/* "unknown" when out of range. */
const char *bh_verdict_str(unsigned int verdict);	/* "allow", "deny", "audit" */
const char *bh_reason_str(unsigned int reason);		/* "granted", "no_grant", ... */
const char *bh_hook_str(unsigned int hook);	/* "connect", "sendmsg", "egress", "ingress" */
const char *bh_mode_str(unsigned int mode);	/* "enforce", "audit" */
/* enum bh_proto, whose values are the IP protocol numbers (IPPROTO_TCP is
 * BH_PROTO_TCP): "tcp", "udp", "icmp", "any", "other". */
const char *bh_proto_str(unsigned int proto);

/* The reverse, for the names a policy or the CLI may write: "tcp", "udp",
 * "icmp", "any" (not "other": nothing is granted by it) and "enforce",
 * "audit". 0 or -EINVAL. The lists, for messages: */
#define BH_PROTO_NAMES "\"tcp\", \"udp\", \"icmp\" or \"any\""
#define BH_MODE_NAMES "\"enforce\" or \"audit\""
int bh_proto_parse(const char *s, uint8_t *proto);
int bh_mode_parse(const char *s, uint8_t *mode);

/* Decisions with this reason deserve a human: they also raise an alert whose
 * "what" is the reason's name ("never", "unknown_partner", "revoked"). */
int bh_reason_alerts(unsigned int reason);

/* Alert severities (docs/alerts.md), lowest first; a tier's severity floor
 * (policy.h) is one of them. "low", "medium", "high", "critical"; and back:
 * 0 or -EINVAL. */
enum bh_severity {
	BH_SEV_LOW,
	BH_SEV_MEDIUM,
	BH_SEV_HIGH,
	BH_SEV_CRITICAL,
	BH_SEV__MAX,
};
#define BH_SEVERITY_NAMES "\"low\", \"medium\", \"high\" or \"critical\""
const char *bh_severity_str(unsigned int sev);
int bh_severity_parse(const char *s, uint8_t *sev);

#endif
