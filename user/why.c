// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead why` (why.h): one tuple judged from the loaded maps with the one
 * matcher (bh_val_decide), the deciding grant named from the JIT records or
 * the policy file given with --policy, revocations from the records.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <bulkhead/decide.h>
#include "cli.h"
#include "events.h"
#include "grants.h"
#include "loader.h"
#include "maps.h"
#include "names.h"
#include "why.h"

int bh_parse_target(const char *s, struct bh_target *t, char *why)
{
	char buf[128], *addr = buf, *port = NULL, *proto, *end;
	struct bh_port_range pr;

	memset(t, 0, sizeof(*t));
	if (strlen(s) >= sizeof(buf)) {
		snprintf(why, BH_REASON_LEN, "'%.40s...' is too long for DEST[:PORT][/PROTO]", s);
		return -EINVAL;
	}
	strcpy(buf, s);
	proto = strrchr(buf, '/');
	if (proto)
		*proto++ = '\0';
	if (buf[0] == '[') {
		end = strchr(buf, ']');
		if (!end || (end[1] && end[1] != ':')) {
			snprintf(why, BH_REASON_LEN, "'%s': write an IPv6 address with a port as [ADDR]:PORT", s);
			return -EINVAL;
		}
		*end = '\0';
		addr = buf + 1;
		port = end[1] ? end + 2 : NULL;
	} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
		port = strchr(buf, ':');	/* one ':': IPv4:PORT */
		*port++ = '\0';
	}
	if (proto && bh_proto_parse(proto, &t->proto)) {
		snprintf(why, BH_REASON_LEN, "'%s': '/%s' is not a protocol (tcp, udp or icmp; "
			 "DEST is one address, not a prefix)", s, proto);
		return -EINVAL;
	}
	if (!proto)
		t->proto = port ? BH_PROTO_TCP : BH_PROTO_ANY;
	if (bh_parse_prefix(addr, &t->addr, why))
		return -EINVAL;
	if (t->addr.plen != 128) {
		snprintf(why, BH_REASON_LEN, "'%s': DEST is one address, not a prefix", s);
		return -EINVAL;
	}
	if (port) {
		if (bh_parse_port(port, &pr, why))
			return -EINVAL;
		if (pr.lo != pr.hi) {
			snprintf(why, BH_REASON_LEN, "'%s': give one port, not a range", s);
			return -EINVAL;
		}
		t->port = pr.lo;
	}
	if (t->proto == BH_PROTO_ANY) {
		snprintf(why, BH_REASON_LEN, "'%s': say which traffic: DEST:PORT (tcp), "
			 "DEST:PORT/udp or DEST/icmp", s);
		return -EINVAL;
	}
	if ((t->proto == BH_PROTO_TCP || t->proto == BH_PROTO_UDP) != !!port) {
		snprintf(why, BH_REASON_LEN, port ? "'%s': icmp has no port" :
			 "'%s': tcp and udp need a port (DEST:PORT/PROTO)", s);
		return -EINVAL;
	}
	return 0;
}

static void why_usage(FILE *f)
{
	fprintf(f,
"Usage: bulkhead why PARTNER DEST[:PORT][/PROTO] [--policy FILE] [--json] [--pin-dir DIR]\n"
"\n"
"The verdict the kernel would give PARTNER's new connection or datagram to DEST\n"
"right now, and why. It is read from the loaded maps, not recomputed from a\n"
"file: the pinned policy trie is looked up exactly as the datapath looks it up\n"
"and judged with the same matcher (include/bulkhead/decide.h), so it works with\n"
"the daemon down.\n"
"\n"
"DEST is one IPv4 or IPv6 address: 10.1.2.3:443 (tcp), 10.1.2.3:53/udp,\n"
"[fd00::1]:443/tcp, 10.1.2.3/icmp. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)\n"
"is judged as the IPv4 address, as the kernel does.\n"
"\n"
"It names the deciding grant: a just-in-time grant (PARTNER/jN) with its purpose,\n"
"expiry and remaining lifetime, from the pinned records; a policy-file grant\n"
"(PARTNER/N) with its purpose and FILE:LINE when --policy names the policy file\n"
"in force (the pins hold only the grant's number: a FILE whose grant does not\n"
"match the loaded one is said so and not used). A deny says why: never (the\n"
"host-wide never list), expired (with the grant), no_grant, revoked (a pinned\n"
"revocation covers DEST: a new connection is refused with no_grant, an\n"
"established flow that was allowed with revoked), unknown_partner (no partner of\n"
"that name is loaded, or it is not in the applied policy). In audit mode a deny\n"
"is verdict \"audit\": the traffic passes and is reported.\n"
"\n"
"Exit status: 0 allowed, 1 denied (audit included: not granted), 2 usage error\n"
"or the maps could not be read.\n"
"\n"
"  -p, --policy FILE   the policy file in force, to name policy-file grants\n"
"                      (default $BULKHEAD_POLICY when set)\n"
"  -j, --json          one JSON object\n"
"  -P, --pin-dir DIR   (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
"  -h, --help          this help\n");
}

struct why {
	const char *partner, *dest, *policy;
	struct bh_target t;
	uint32_t pid;
	struct bh_lpm_val v;
	struct bh_val_result res;
	int in_policy;
	struct bh_jitset js;
	struct bh_clock clk;
};

static int why_opt(void *ctx, int key, const char *arg)
{
	struct why *w = ctx;

	if (key != 'p')
		return -1;
	w->policy = arg;
	return 0;
}

int bh_why_partner_id(const struct bh_maps *m, const char *name, uint32_t *id)
{
	struct bh_pname n;

	for (*id = 1; *id < BH_MAX_PARTNERS; (*id)++)
		if (!bh_maps_pname_read(m, *id, &n) && !strncmp(n.name, name, sizeof(n.name)))
			return 0;
	return -ENOENT;
}

/* The trie lookup of the datapath (bh_decide) and the matcher. 0 or -errno. */
static int judge(const struct bh_maps *m, struct why *w)
{
	struct bh_lpm_key k = { .prefixlen = 32 + 128 };
	int fd = bh_maps_trie_current(m), err;

	if (fd < 0)
		return fd;
	k.partner = htonl(w->pid);
	memcpy(k.addr, w->t.addr.addr, 16);
	err = bh_maps_trie_lookup(fd, &k, &w->v);
	close(fd);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	w->in_policy = 1;
	bh_val_decide(&w->v, w->t.proto, w->t.port, (uint64_t)w->clk.boot_ns, &w->res);
	return 0;
}

/* A pinned revocation of the partner covering the tuple, or NULL. */
static const struct bh_jit *revocation(const struct why *w)
{
	size_t i, j;

	for (i = 0; i < w->js.n; i++) {
		const struct bh_jit *r = &w->js.r[i];
		struct bh_prefix pf;
		int ports = !r->nports;

		if (r->kind != BH_JIT_REVOKE || strncmp(r->partner, w->partner, sizeof(r->partner)))
			continue;
		memcpy(pf.addr, r->addr, 16);
		pf.plen = r->plen;
		if (!bh_prefix_within(&w->t.addr, &pf))
			continue;
		if (r->proto != BH_JIT_ANY_PROTO && r->proto != BH_PROTO_ANY && r->proto != w->t.proto)
			continue;
		for (j = 0; j < r->nports; j++)
			ports |= w->t.port >= r->ports[2 * j] && w->t.port <= r->ports[2 * j + 1];
		if (r->proto == BH_JIT_ANY_PROTO || ports)
			return r;
	}
	return NULL;
}

/* The rule of the value with grant id (its expiry), or NULL. */
static const struct bh_rule *rule_of(const struct why *w, uint32_t grant)
{
	int i;

	for (i = 0; i < w->v.nrules && i < BH_MAX_RULES; i++)
		if (w->v.rules[i].grant == grant &&
		    bh_rule_covers(&w->v.rules[i], w->t.proto, w->t.port))
			return &w->v.rules[i];
	return NULL;
}

/* Policy-file grant id from FILE: id, purpose, file:line, or why not. */
static void file_grant(const struct why *w, uint32_t id, json_t *o)
{
	struct bh_policy p = {};
	struct bh_errors errs = {};
	const struct bh_grant *g;
	char buf[192];

	if (!w->policy) {
		json_object_set_new(o, "note", json_string("policy-file grant: give --policy FILE "
							   "to name it"));
		return;
	}
	if (bh_policy_load(w->policy, &p, &errs)) {
		snprintf(buf, sizeof(buf), "%s cannot be read as a policy", w->policy);
		json_object_set_new(o, "note", json_string(buf));
		bh_errors_free(&errs);
		return;
	}
	g = id && id <= p.ngrants ? &p.grants[id - 1] : NULL;
	if (!g || strcmp(p.partners[g->partner_idx].name, w->partner) ||
	    !bh_prefix_within(&w->t.addr, &g->to)) {
		snprintf(buf, sizeof(buf), "%s is not the policy in force: its grant %u does not "
			 "cover this destination for %s", w->policy, id, w->partner);
		json_object_set_new(o, "note", json_string(buf));
		bh_policy_free(&p);
		return;
	}
	bh_grant_format_file_id(buf, sizeof(buf), w->partner, g->gid);
	json_object_set_new(o, "id", json_string(buf));
	if (g->purpose)
		json_object_set_new(o, "purpose", json_string(g->purpose));
	snprintf(buf, sizeof(buf), "%s:%d", w->policy, g->line);
	json_object_set_new(o, "source", json_string(buf));
	bh_policy_free(&p);
}

static json_t *grant_obj(const struct why *w, uint32_t id)
{
	const struct bh_rule *r = rule_of(w, id);
	json_t *o = json_object();
	const struct bh_jit *j;
	char buf[128];

	json_object_set_new(o, "kernel_id", json_integer(id));
	if (id & BH_JIT_GRANT_BIT) {
		j = bh_jit_grant_of(&w->js, id & ~BH_JIT_GRANT_BIT);
		bh_grant_format_id(buf, sizeof(buf), w->partner, id & ~BH_JIT_GRANT_BIT, 1);
		json_object_set_new(o, "id", json_string(buf));
		json_object_set_new(o, "source", json_string("jit"));
		if (j && j->purpose[0])
			json_object_set_new(o, "purpose", json_stringn(j->purpose,
						strnlen(j->purpose, sizeof(j->purpose))));
	} else {
		file_grant(w, id, o);
	}
	if (r)
		bh_grant_json_lifetime(o, r->expires_ns, 0, &w->clk);
	return o;
}

static json_t *why_json(const struct why *w, int known)
{
	json_t *o = json_object();
	const struct bh_jit *rv;
	char buf[BH_PREFIX_STRLEN];
	const char *reason;
	int allowed = w->in_policy && w->res.reason == BH_REASON_GRANTED;

	json_object_set_new(o, "partner", json_string(w->partner));
	bh_prefix_str(&w->t.addr, buf, sizeof(buf));
	buf[strcspn(buf, "/")] = '\0';	/* one address: no length */
	json_object_set_new(o, "dst", json_string(buf));
	if (w->t.port)
		json_object_set_new(o, "dport", json_integer(w->t.port));
	json_object_set_new(o, "proto", json_string(bh_proto_str(w->t.proto)));
	reason = bh_reason_str(w->in_policy ? w->res.reason : BH_REASON_UNKNOWN_PARTNER);
	json_object_set_new(o, "kernel_reason", json_string(reason));
	if (w->in_policy) {
		json_object_set_new(o, "mode", json_string(bh_mode_str(w->v.mode)));
		if (w->v.flags & BH_ENTRY_NEVER)
			json_object_set_new(o, "never", json_true());
		if (w->res.grant)
			json_object_set_new(o, "grant", grant_obj(w, w->res.grant));
	} else {
		json_object_set_new(o, "detail", json_string(known ?
			"the partner is not in the applied policy" : "no partner of that name is loaded"));
	}
	if (w->in_policy && w->res.reason == BH_REASON_NO_GRANT && (rv = revocation(w))) {
		json_t *r = json_object();
		struct bh_prefix pf;

		memcpy(pf.addr, rv->addr, 16);
		pf.plen = rv->plen;
		json_object_set_new(r, "to", json_string(bh_prefix_str(&pf, buf, sizeof(buf))));
		bh_grant_json_revoked(r, rv);
		json_object_set_new(o, "revocation", r);
		reason = "revoked";
	}
	json_object_set_new(o, "reason", json_string(reason));
	json_object_set_new(o, "verdict", json_string(allowed ? "allow" :
		w->in_policy && w->v.mode == BH_MODE_AUDIT ? "audit" : "deny"));
	return o;
}

static void why_print(const json_t *o)
{
	const json_t *g = json_object_get(o, "grant"), *rv = json_object_get(o, "revocation");
	const char *s;

	printf("%s -> %s", json_string_value(json_object_get(o, "partner")),
	       json_string_value(json_object_get(o, "dst")));
	if (json_object_get(o, "dport"))
		printf(":%lld", json_integer_value(json_object_get(o, "dport")));
	printf("/%s: %s (%s)", json_string_value(json_object_get(o, "proto")),
	       json_string_value(json_object_get(o, "verdict")),
	       json_string_value(json_object_get(o, "reason")));
	if ((s = json_string_value(json_object_get(o, "mode"))))
		printf(", mode %s", s);
	printf("\n");
	if ((s = json_string_value(json_object_get(o, "detail"))))
		printf("  %s\n", s);
	if (g) {
		printf("  grant %s", json_string_value(json_object_get(g, "id")) ?: "(unnamed)");
		if ((s = json_string_value(json_object_get(g, "source"))))
			printf(" from %s", s);
		if ((s = json_string_value(json_object_get(g, "purpose"))))
			printf(" \"%s\"", s);
		if ((s = json_string_value(json_object_get(g, "expires"))))
			printf(", expires %s (%.1fs left)", s,
			       json_real_value(json_object_get(g, "remaining_s")));
		printf("\n");
		if ((s = json_string_value(json_object_get(g, "note"))))
			printf("  %s\n", s);
	}
	if (rv)
		printf("  revoked: %s at %s (a new connection is refused with no_grant)\n",
		       json_string_value(json_object_get(rv, "to")),
		       json_string_value(json_object_get(rv, "revoked_at")) ?: "?");
}

int bh_cmd_why(int argc, char **argv)
{
	static const struct cli_opt own[] = { { "policy", 'p', required_argument }, { 0 } };
	struct why w = { .policy = getenv("BULKHEAD_POLICY") };
	char reason[BH_REASON_LEN];
	struct cli_args a;
	struct bh_maps m;
	json_t *o;
	int rc, known, err;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_PIN_DIR, own, why_opt, &w, why_usage, 2, 2, &a);
	if (rc >= 0)
		return rc;
	w.partner = a.args[0];
	if (bh_parse_target(a.args[1], &w.t, reason)) {
		fprintf(stderr, "bulkhead why: %s\n", reason);
		return 2;
	}
	if (bh_maps_open_pinned(&m, a.pin_dir)) {
		fprintf(stderr, "bulkhead why: nothing loaded: no pinned maps in %s\n", a.pin_dir);
		return 2;
	}
	bh_clock_now(&w.clk);
	known = !bh_why_partner_id(&m, w.partner, &w.pid);
	err = known ? judge(&m, &w) : 0;
	bh_maps_close(&m);
	if (err) {
		fprintf(stderr, "bulkhead why: cannot read the policy trie in %s: %s\n", a.pin_dir,
			strerror(-err));
		return 2;
	}
	if (bh_jit_load_pinned(a.pin_dir, &w.js))
		memset(&w.js, 0, sizeof(w.js));
	o = why_json(&w, known);
	rc = !strcmp(json_string_value(json_object_get(o, "verdict")), "allow") ? 0 : 1;
	if (a.json) {
		if (!json_dumpf(o, stdout, JSON_COMPACT))
			putchar('\n');
	} else {
		why_print(o);
	}
	json_decref(o);
	bh_jitset_free(&w.js);
	return rc;
}
