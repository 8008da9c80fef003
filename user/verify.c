// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead verify` (verify.h): what is expected comes from the policy in
 * force (the policy file plus the pinned JIT records and revocations, made
 * into the effective policy exactly as the daemon makes it); what the kernel
 * says comes from probes (probe.c) in a transient child cgroup of each
 * partner; the rule the kernel holds comes from the pinned trie (looked up
 * and judged as the datapath does) and, for a denied probe, from the event
 * it caused (matched by socket cookie). A grant missing from the trie, a
 * detached hook or an unbound cgroup shows as a probe whose answer is not
 * the expected one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bulkhead/decide.h>
#include "cgroup.h"
#include "cli.h"
#include "control.h"
#include "grants.h"
#include "loader.h"
#include "maps.h"
#include "names.h"
#include "verify.h"
#include "why.h"

#define DEFAULT_MAX_PROBES 5000
#define EXPIRY_MARGIN_NS 2000000000LL	/* a grant ending sooner is not probed */
#define EVENT_WAIT_MS 1500

volatile int bh_verify_stop;

struct vprobe {
	struct bh_probe p;
	uint32_t part;		/* index into verify.parts */
	uint8_t expect;		/* BH_SAID_ALLOW or BH_SAID_DENY */
	uint8_t exp_reason;	/* granted, never, no_grant (before audit) */
	uint8_t trie_reason;	/* the pinned trie's verdict (BH_REASON_*), 0xff: none */
	uint8_t ev_found;
	uint32_t exp_grant, trie_grant;
	char what[56];
	char ev_reason[24], ev_grant[64];
};

struct vpart {
	const char *name;
	uint32_t pidx, kid;	/* policy index, kernel id (0: not loaded) */
	int audit;
	char cgroup[PATH_MAX];	/* the bound cgroup probed (absolute) */
	char probe_cg[PATH_MAX];
	const char *skip;	/* why it was not probed, or NULL */
	size_t first, n, not_run;
	long ev_off;		/* size of its event file before probing */
};

struct verify {
	/* options */
	const char *policy, *junit, *log_dir;
	unsigned long max_probes;
	int revocation, json, tty, quiet;
	struct cli_args a;
	/* what is in force */
	struct bh_policy file, eff;
	size_t eff_shared;
	struct bh_jitset js;
	struct bh_clock clk;
	struct bh_maps m;
	int maps_open, trie_fd;
	/* the run */
	struct vpart *parts;
	size_t nparts;
	struct vprobe *pr;
	size_t n, cap;
	struct bh_probe_env env;
	char ifnames[256];
	json_t *cuts;		/* revocation and expiry results */
	double probe_ms;
};

static void verify_usage(FILE *f)
{
	fprintf(f,
"Usage: bulkhead verify [PARTNER...] [--policy FILE] [--json] [--junit FILE]\n"
"                       [--max-probes N] [--no-revocation] [--quiet] [--log-dir DIR]\n"
"                       [--pin-dir DIR] [--control PATH]\n"
"\n"
"Prove that the kernel enforces the policy in force, by asking it. For each\n"
"PARTNER (default: every partner of the policy) verify makes a transient child\n"
"cgroup of the partner's bound cgroup (it is the partner by nearest ancestor;\n"
"removed afterwards) and private network namespaces of its own, and probes from\n"
"a child process that joins both: TCP connect and UDP send in a namespace with\n"
"only `lo` up (the connect and sendmsg hooks decide before routing: EPERM is a\n"
"deny, ENETUNREACH or ECONNREFUSED an allow), ICMP echo through a veth into a\n"
"namespace that forwards nothing. No packet leaves the host; the partner's own\n"
"processes and sockets are not touched.\n"
"\n"
"Probed per partner, bounded by --max-probes: for every live grant (policy file\n"
"and just-in-time) its first, last and one inside address, the first and last\n"
"port of every range, per protocol it grants: expected allowed; the address\n"
"after and before it, port - 1 and port + 1: expected as the policy says\n"
"(denied unless another grant covers them); every `never` entry, loopback\n"
"(127.0.0.1, ::1) and the metadata addresses: denied. Audit-mode partners are\n"
"expected to pass everything. The expectation is computed from the policy file\n"
"and the pinned grant records, never from the kernel's maps.\n"
"\n"
"For each probe the report gives what was expected, what the kernel said (and\n"
"the errno), the rule the kernel holds for it (the deciding grant or reason\n"
"from the pinned trie; for a denied probe the reason of the event it caused,\n"
"matched by socket cookie, when the daemon writes events to --log-dir) and\n"
"whether all agree. A hook detached behind the daemon's back, a cgroup whose\n"
"binding was removed or a grant missing from the kernel's trie show as probes\n"
"that are not as expected.\n"
"\n"
"Revocation proof (default on, needs the daemon): a temporary just-in-time grant\n"
"to a sink verify runs in its own namespace pair, an established TCP flow and a\n"
"connected UDP flow through it, `revoke`: then the first packet after the revoke\n"
"must be dropped, no byte sent after it may reach the sink, the TCP socket must\n"
"be destroyed; the time from the revoke request to the first drop is reported.\n"
"The same with a 1 s ttl grant for expiry. Everything verify creates (cgroups,\n"
"namespaces, grants) is removed, also on failure or Ctrl-C.\n"
"\n"
"Output: a table per partner (probe, expected, kernel said, rule, ok) and a\n"
"summary line `verify: N probes, N as expected, N wrong; revocation cut in X ms`;\n"
"progress on stderr when it is a terminal.\n"
"\n"
"Exit status: 0 every probe and proof as expected; 1 any is not (named in the\n"
"report); 2 verify could not run (usage, nothing loaded, no policy, no daemon\n"
"for the revocation proof, not root).\n"
"\n"
"  -p, --policy FILE      the policy file in force (default $BULKHEAD_POLICY)\n"
"  -j, --json             one JSON object instead of the table\n"
"  -J, --junit FILE       also write a JUnit XML report (one test case a probe)\n"
"  -m, --max-probes N     at most N probes in all (default %d); the grants left\n"
"                         out are counted in the report\n"
"  -r, --revocation       prove revocation and expiry (the default)\n"
"  -R, --no-revocation    probes only (works with the daemon down)\n"
"  -l, --log-dir DIR      the daemon's event files (default " BH_DEFAULT_LOG_DIR ")\n"
"  -q, --quiet            no progress, even on a terminal\n"
"  -P, --pin-dir DIR      (default $BULKHEAD_PIN_DIR or " BH_DEFAULT_PIN_DIR ")\n"
"  -c, --control PATH     the daemon's control socket\n"
"                         (default $BULKHEAD_CONTROL or " BH_DEFAULT_CONTROL ")\n"
"  -h, --help             this help\n", DEFAULT_MAX_PROBES);
}

static int verify_opt(void *ctx, int key, const char *arg)
{
	struct verify *v = ctx;
	char *end;

	switch (key) {
	case 'p':
		v->policy = arg;
		return 0;
	case 'J':
		v->junit = arg;
		return 0;
	case 'l':
		v->log_dir = arg;
		return 0;
	case 'r':
		v->revocation = 1;
		return 0;
	case 'R':
		v->revocation = 0;
		return 0;
	case 'q':
		v->quiet = 1;
		return 0;
	case 'm':
		errno = 0;
		v->max_probes = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || !v->max_probes) {
			fprintf(stderr, "bulkhead verify: --max-probes: '%s' is not a positive "
				"integer\n", arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* ---- what is expected ---- */

static int grant_live(const struct verify *v, const struct bh_grant *g)
{
	uint64_t exp = bh_grants_expiry_boot(g, &v->clk);

	return !exp || (int64_t)exp > v->clk.boot_ns + EXPIRY_MARGIN_NS;
}

static int grant_ends_soon(const struct verify *v, const struct bh_grant *g)
{
	uint64_t exp = bh_grants_expiry_boot(g, &v->clk);

	return exp && (int64_t)exp > v->clk.boot_ns && (int64_t)exp <= v->clk.boot_ns + EXPIRY_MARGIN_NS;
}

/* The policy's semantics (policy.h): proto any or equal; ports only for tcp/udp. */
static int grant_covers(const struct bh_grant *g, const struct bh_probe *p)
{
	size_t i;

	if (!bh_prefix_within(&p->dst, &g->to) || (g->proto != BH_PROTO_ANY && g->proto != p->proto))
		return 0;
	if (!g->nports)
		return 1;
	if (p->proto != BH_PROTO_TCP && p->proto != BH_PROTO_UDP)
		return 0;
	for (i = 0; i < g->nports; i++)
		if (p->port >= g->ports[i].lo && p->port <= g->ports[i].hi)
			return 1;
	return 0;
}

/* Expected verdict of q. 0, or 1 when ambiguous (a covering grant ends
 * within the margin: not probed). */
static int expect(const struct verify *v, const struct vpart *vp, struct vprobe *q)
{
	size_t i;

	q->exp_reason = BH_REASON_NO_GRANT;
	q->exp_grant = 0;
	for (i = 0; i < v->eff.nnever; i++)
		if (bh_prefix_within(&q->p.dst, &v->eff.never[i]))
			q->exp_reason = BH_REASON_NEVER;
	for (i = 0; i < v->eff.ngrants && q->exp_reason != BH_REASON_NEVER; i++) {
		const struct bh_grant *g = &v->eff.grants[i];

		if (g->partner_idx != vp->pidx || !grant_covers(g, &q->p))
			continue;
		if (grant_ends_soon(v, g))
			return 1;
		if (grant_live(v, g) && q->exp_reason != BH_REASON_GRANTED) {
			q->exp_reason = BH_REASON_GRANTED;
			q->exp_grant = g->id;
		}
	}
	q->expect = q->exp_reason == BH_REASON_GRANTED || vp->audit ? BH_SAID_ALLOW : BH_SAID_DENY;
	return 0;
}

/* Add one probe of partner pi unless it is there already or the budget is
 * spent (then counted as not run). */
static void add(struct verify *v, size_t pi, const uint8_t *addr, uint8_t proto, uint16_t port,
		size_t budget, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add(struct verify *v, size_t pi, const uint8_t *addr, uint8_t proto, uint16_t port,
		size_t budget, const char *fmt, ...)
{
	struct vpart *vp = &v->parts[pi];
	struct vprobe q = { .part = (uint32_t)pi, .trie_reason = 0xff };
	va_list ap;
	size_t i;

	if (vp->n >= budget) {	/* before any work: 100k grants stay cheap */
		vp->not_run++;
		return;
	}
	memcpy(q.p.dst.addr, addr, 16);
	q.p.dst.plen = 128;
	q.p.proto = proto;
	q.p.port = proto == BH_PROTO_ICMP ? 0 : port;
	for (i = vp->first; i < v->n; i++)
		if (!memcmp(&v->pr[i].p.dst, &q.p.dst, sizeof(q.p.dst)) && v->pr[i].p.proto == proto &&
		    v->pr[i].p.port == q.p.port)
			return;
	if (expect(v, vp, &q))
		return;
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 256;
		struct vprobe *np = realloc(v->pr, cap * sizeof(*np));

		if (!np) {
			vp->not_run++;
			return;
		}
		v->pr = np;
		v->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(q.what, sizeof(q.what), fmt, ap);
	va_end(ap);
	v->pr[v->n++] = q;
	vp->n++;
}

static const uint8_t v4map[12] = { [10] = 0xff, [11] = 0xff };

static int is_v4(const struct bh_prefix *pf)
{
	return pf->plen >= 96 && !memcmp(pf->addr, v4map, 12);
}

/* Set (or clear) every bit of a at and after bit plen. */
static void host_bits(uint8_t *a, int plen, int set)
{
	int b;

	for (b = plen; b < 128; b++) {
		if (set)
			a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		else
			a[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	}
}

/* a + d (d = +1 or -1) within the family: 0, or -1 when it leaves it. */
static int addr_step(uint8_t *a, int d, int v4)
{
	uint8_t old[16];
	int i;

	memcpy(old, a, 16);
	for (i = 15; i >= 0; i--) {
		a[i] = (uint8_t)(a[i] + d);
		if ((d > 0 && a[i]) || (d < 0 && a[i] != 0xff))
			break;
	}
	if (i < 0 || (v4 && memcmp(a, v4map, 12)) || (!v4 && !memcmp(a, v4map, 12))) {
		memcpy(a, old, 16);
		return -1;
	}
	return 0;
}

static const char *tag_of(const struct bh_grant *g, const struct vpart *vp, char *buf, size_t len)
{
	if (g->id & BH_JIT_GRANT_BIT)
		bh_grant_format_id(buf, len, vp->name, g->id & ~BH_JIT_GRANT_BIT, 1);
	else
		snprintf(buf, len, "%s grant %s", vp->name, g->to_text ? g->to_text : "?");
	return buf;
}

/* The probes of grant g: addresses x protocols x ports, then neighbours. */
static void plan_grant(struct verify *v, size_t pi, const struct bh_grant *g, size_t budget)
{
	static const uint8_t protos[] = { BH_PROTO_TCP, BH_PROTO_UDP, BH_PROTO_ICMP };
	uint8_t addrs[3][16], nb[16];
	const char *an[3] = { "first", "last", "inside" };
	int na = 1, v4 = is_v4(&g->to), hb = 128 - g->to.plen, k, a;
	char tag[96];
	size_t r;

	tag_of(g, &v->parts[pi], tag, sizeof(tag));
	memcpy(addrs[0], g->to.addr, 16);
	host_bits(addrs[0], g->to.plen, 0);
	if (hb) {
		memcpy(addrs[1], addrs[0], 16);
		host_bits(addrs[1], g->to.plen, 1);
		na = 2;
	}
	if (hb >= 2) {
		memcpy(addrs[2], addrs[0], 16);
		addrs[2][g->to.plen / 8] |= (uint8_t)(0x80 >> (g->to.plen % 8));
		na = 3;
	}
	for (k = 0; k < 3; k++) {
		uint8_t pr = protos[k];

		if (g->proto != BH_PROTO_ANY && g->proto != pr)
			continue;
		if (pr == BH_PROTO_ICMP && g->nports)
			continue;	/* ports match only tcp/udp */
		for (a = 0; a < na; a++) {
			if (pr == BH_PROTO_ICMP || !g->nports) {
				add(v, pi, addrs[a], pr, pr == BH_PROTO_ICMP ? 0 : 1, budget,
				    "%s, %s address", tag, an[a]);
				if (pr != BH_PROTO_ICMP)
					add(v, pi, addrs[a], pr, 65535, budget, "%s, %s address",
					    tag, an[a]);
				continue;
			}
			for (r = 0; r < g->nports; r++) {
				add(v, pi, addrs[a], pr, g->ports[r].lo, budget,
				    "%s, %s address, first port", tag, an[a]);
				add(v, pi, addrs[a], pr, g->ports[r].hi, budget,
				    "%s, %s address, last port", tag, an[a]);
			}
		}
		/* neighbours just outside */
		memcpy(nb, addrs[na > 1 ? 1 : 0], 16);
		if (!addr_step(nb, 1, v4))
			add(v, pi, nb, pr, g->nports ? g->ports[0].lo : 1, budget,
			    "next address after %s", tag);
		memcpy(nb, addrs[0], 16);
		if (!addr_step(nb, -1, v4))
			add(v, pi, nb, pr, g->nports ? g->ports[0].lo : 1, budget,
			    "address before %s", tag);
		for (r = 0; pr != BH_PROTO_ICMP && r < g->nports; r++) {
			if (g->ports[r].lo > 1)
				add(v, pi, addrs[0], pr, g->ports[r].lo - 1, budget,
				    "port before %s", tag);
			if (g->ports[r].hi < 65535)
				add(v, pi, addrs[0], pr, g->ports[r].hi + 1, budget,
				    "port after %s", tag);
		}
	}
}

static void parse_addr(const char *s, uint8_t *a)
{
	struct bh_prefix pf;
	char why[BH_REASON_LEN];

	if (!bh_parse_prefix(s, &pf, why))
		memcpy(a, pf.addr, 16);
}

/* Every probe of partner pi. */
static void plan_partner(struct verify *v, size_t pi, size_t budget)
{
	static const struct { const char *addr; uint8_t proto; uint16_t port; const char *what; }
	fixed[] = {
		{ "127.0.0.1", BH_PROTO_TCP, 22, "loopback" },
		{ "127.0.0.1", BH_PROTO_UDP, 53, "loopback" },
		{ "::1", BH_PROTO_TCP, 22, "loopback" },
		{ "169.254.169.254", BH_PROTO_TCP, 80, "metadata service" },
		{ "fd00:ec2::254", BH_PROTO_TCP, 80, "metadata service" },
	};
	uint8_t a[16];
	size_t i;

	v->parts[pi].first = v->n;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		parse_addr(fixed[i].addr, a);
		add(v, pi, a, fixed[i].proto, fixed[i].port, budget, "%s", fixed[i].what);
	}
	for (i = 0; i < v->eff.nnever; i++) {
		char buf[BH_PREFIX_STRLEN];

		bh_prefix_str(&v->eff.never[i], buf, sizeof(buf));
		add(v, pi, v->eff.never[i].addr, BH_PROTO_TCP, 443, budget, "never %s", buf);
		add(v, pi, v->eff.never[i].addr, BH_PROTO_UDP, 53, budget, "never %s", buf);
	}
	for (i = 0; i < v->eff.ngrants; i++) {
		const struct bh_grant *g = &v->eff.grants[i];

		if (g->partner_idx == v->parts[pi].pidx && grant_live(v, g))
			plan_grant(v, pi, g, budget);
	}
}

/* ---- what is in force ---- */

/* The first bound cgroup of partner p that exists, absolute. 0 or -ENOENT. */
static int bound_cgroup(const struct bh_partner *p, char *out)
{
	char cg2[PATH_MAX];
	struct stat st;
	size_t i;

	if (bh_cgroup2_mount(cg2, sizeof(cg2)))
		return -ENOENT;
	for (i = 0; i < p->ncgroups; i++) {
		if (snprintf(out, PATH_MAX, "%s/%s", cg2, p->cgroups[i]) >= PATH_MAX)
			continue;
		if (!stat(out, &st) && S_ISDIR(st.st_mode))
			return 0;
	}
	return -ENOENT;
}

static int pick_partners(struct verify *v)
{
	size_t i, j, n = v->a.nargs ? (size_t)v->a.nargs : v->file.npartners;

	v->parts = calloc(n ? n : 1, sizeof(*v->parts));
	if (!v->parts)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct vpart *vp = &v->parts[v->nparts];
		uint32_t idx = (uint32_t)i;

		if (v->a.nargs && bh_grants_partner(&v->file, v->a.args[i], &idx)) {
			fprintf(stderr, "bulkhead verify: no partner '%s' in %s\n", v->a.args[i],
				v->policy);
			return -ENOENT;
		}
		for (j = 0; j < v->nparts; j++)
			if (v->parts[j].pidx == idx)
				break;
		if (j < v->nparts)
			continue;
		vp->pidx = idx;
		vp->name = v->file.partners[idx].name;
		vp->audit = v->file.partners[idx].mode == BH_MODE_AUDIT;
		if (bh_why_partner_id(&v->m, vp->name, &vp->kid))
			vp->kid = 0;
		if (bound_cgroup(&v->file.partners[idx], vp->cgroup))
			vp->skip = "none of its cgroups exists on this host";
		v->nparts++;
	}
	return 0;
}

static int load_state(struct verify *v)
{
	struct bh_errors errs = {};

	if (!v->policy) {
		fprintf(stderr, "bulkhead verify: give the policy file in force (--policy FILE or "
			"$BULKHEAD_POLICY): what is expected comes from it, not from the kernel\n");
		return -EINVAL;
	}
	if (bh_policy_load(v->policy, &v->file, &errs)) {
		cli_print_errors(&errs);
		bh_errors_free(&errs);
		return -EINVAL;
	}
	if (bh_maps_open_pinned(&v->m, v->a.pin_dir)) {
		fprintf(stderr, "bulkhead verify: nothing loaded: no pinned maps in %s\n",
			v->a.pin_dir);
		return -ENOENT;
	}
	v->maps_open = 1;
	v->trie_fd = bh_maps_trie_current(&v->m);
	if (bh_jit_load_pinned(v->a.pin_dir, &v->js))
		memset(&v->js, 0, sizeof(v->js));
	bh_clock_now(&v->clk);
	if (bh_effective_build(&v->file, &v->js, &v->eff, &v->eff_shared))
		return -ENOMEM;
	return pick_partners(v);
}

/* ---- what the kernel holds and said ---- */

static void trie_rules(struct verify *v)
{
	size_t i;

	for (i = 0; i < v->n && v->trie_fd >= 0; i++) {
		struct vprobe *q = &v->pr[i];
		struct bh_lpm_key k = { .prefixlen = 32 + 128 };
		struct bh_lpm_val val;
		struct bh_val_result res;
		uint32_t kid = v->parts[q->part].kid;

		if (!kid)
			continue;
		k.partner = htonl(kid);
		memcpy(k.addr, q->p.dst.addr, 16);
		if (bh_maps_trie_lookup(v->trie_fd, &k, &val))
			continue;
		bh_val_decide(&val, q->p.proto, q->p.port, (uint64_t)v->clk.boot_ns, &res);
		q->trie_reason = res.reason;
		q->trie_grant = res.grant;
	}
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (long)st.st_size;
}

static void event_path(const struct verify *v, const struct vpart *vp, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s.jsonl", v->log_dir, vp->name);
}

/* Match the events appended to the partner's file since probing began to
 * its denied probes by cookie. Returns how many denied probes have none. */
static size_t read_events(struct verify *v, struct vpart *vp)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0, i, missing = 0;
	FILE *f;

	event_path(v, vp, path);
	f = fopen(path, "re");
	if (f && fseek(f, vp->ev_off, SEEK_SET) == 0) {
		while (getline(&line, &cap, f) > 0) {
			json_t *o = json_loads(line, 0, NULL), *g;
			json_int_t ck = json_integer_value(json_object_get(o, "cookie"));

			for (i = vp->first; ck && i < vp->first + vp->n; i++) {
				struct vprobe *q = &v->pr[i];

				if (q->p.cookie != (uint64_t)ck || q->ev_found)
					continue;
				q->ev_found = 1;
				snprintf(q->ev_reason, sizeof(q->ev_reason), "%s",
					 json_string_value(json_object_get(o, "reason")) ?: "?");
				g = json_object_get(o, "grant");
				snprintf(q->ev_grant, sizeof(q->ev_grant), "%s",
					 json_string_value(json_object_get(g, "id")) ?: "");
			}
			json_decref(o);
		}
	}
	free(line);
	if (f)
		fclose(f);
	for (i = vp->first; i < vp->first + vp->n; i++)
		missing += v->pr[i].p.said == BH_SAID_DENY && !v->pr[i].ev_found;
	return missing;
}

static int daemon_up(const char *control)
{
	json_t *req = json_pack("{s:s}", "op", "ping"), *resp = bh_ctl_call(control, req);
	int up = json_is_true(json_object_get(resp, "ok"));

	json_decref(req);
	json_decref(resp);
	return up;
}

/* Poll the event files for the denied probes' events (the daemon writes
 * them asynchronously), at most EVENT_WAIT_MS. */
static void wait_events(struct verify *v)
{
	struct timespec ts = { 0, 20000000 };
	int i, all;
	size_t p;

	if (!daemon_up(v->a.control))
		return;
	for (i = 0; i * 20 < EVENT_WAIT_MS && !bh_verify_stop; i++) {
		for (p = 0, all = 1; p < v->nparts; p++)
			all &= !v->parts[p].skip && read_events(v, &v->parts[p]) == 0;
		if (all)
			return;
		nanosleep(&ts, NULL);
	}
}

static void progress(void *ctx, size_t done)
{
	struct vpart *vp = ctx;

	fprintf(stderr, "\rverify: %s: %zu/%zu probes", vp->name, done, vp->n);
}

static int probe_partner(struct verify *v, struct vpart *vp)
{
	char path[PATH_MAX];
	struct bh_probe *tmp;
	size_t i;
	int err;

	if (vp->skip || !vp->n)
		return 0;
	err = bh_probe_cgroup_make(vp->cgroup, vp->probe_cg);
	if (err)
		return err;
	event_path(v, vp, path);
	vp->ev_off = file_size(path);
	tmp = calloc(vp->n, sizeof(*tmp));	/* the probes apart from the plan */
	if (!tmp)
		return -ENOMEM;
	for (i = 0; i < vp->n; i++)
		tmp[i] = v->pr[vp->first + i].p;
	err = bh_probe_run(&v->env, vp->probe_cg, tmp, vp->n, v->tty ? progress : NULL, vp);
	for (i = 0; i < vp->n; i++)
		v->pr[vp->first + i].p = tmp[i];
	free(tmp);
	if (v->tty)
		fprintf(stderr, "\r\033[K");
	if (err && err != -EINTR)
		fprintf(stderr, "bulkhead verify: the probes of %s could not run: %s\n", vp->name,
			strerror(-err));
	return err;
}

/* ---- the report ---- */

static int probe_ok(const struct vprobe *q)
{
	if (q->p.said != q->expect)
		return 0;
	/* the event the probe caused must give the reason the policy gives */
	return !q->ev_found || !strcmp(q->ev_reason, bh_reason_str(q->exp_reason));
}

static void probe_name(const struct vprobe *q, char *buf, size_t len)
{
	char a[BH_PREFIX_STRLEN];

	bh_prefix_str(&q->p.dst, a, sizeof(a));
	a[strcspn(a, "/")] = '\0';
	if (q->p.proto == BH_PROTO_ICMP)
		snprintf(buf, len, "icmp %s", a);
	else if (strchr(a, ':'))
		snprintf(buf, len, "%s [%s]:%u", bh_proto_str(q->p.proto), a, q->p.port);
	else
		snprintf(buf, len, "%s %s:%u", bh_proto_str(q->p.proto), a, q->p.port);
}

/* The grant id text of kernel grant id of partner vp ("acme/2", "acme/j3"). */
static void grant_text(const struct verify *v, const struct vpart *vp, uint32_t id, char *buf,
		       size_t len)
{
	uint32_t i, nth = 0;

	if (id & BH_JIT_GRANT_BIT) {
		bh_grant_format_id(buf, len, vp->name, id & ~BH_JIT_GRANT_BIT, 1);
		return;
	}
	for (i = 0; i < v->file.ngrants && i < id; i++)
		nth += v->file.grants[i].partner_idx == vp->pidx;
	bh_grant_format_id(buf, len, vp->name, nth, 0);
}

static void rule_text(const struct verify *v, const struct vprobe *q, char *buf, size_t len)
{
	const struct vpart *vp = &v->parts[q->part];

	if (q->ev_found) {
		snprintf(buf, len, "%s%s%s (event)", q->ev_reason, q->ev_grant[0] ? " " : "",
			 q->ev_grant);
	} else if (q->trie_reason == 0xff) {
		snprintf(buf, len, "no trie entry");
	} else if (q->trie_grant && q->trie_reason != BH_REASON_NEVER) {
		char g[96];

		grant_text(v, vp, q->trie_grant, g, sizeof(g));
		snprintf(buf, len, "%s %s", bh_reason_str(q->trie_reason), g);
	} else {
		snprintf(buf, len, "%s", bh_reason_str(q->trie_reason));
	}
}

static const char *said_str(uint8_t s)
{
	static const char *const n[] = { "not run", "allow", "deny", "error" };

	return s < 4 ? n[s] : "?";
}

static json_t *probe_json(const struct verify *v, const struct vprobe *q)
{
	char name[160], rule[160], g[96];
	json_t *o;

	probe_name(q, name, sizeof(name));
	rule_text(v, q, rule, sizeof(rule));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "probe", name, "what", q->what,
		      "expected", said_str(q->expect), "expected_reason", bh_reason_str(q->exp_reason),
		      "kernel", said_str(q->p.said), "rule", rule, "ok", probe_ok(q));
	if (q->exp_grant) {
		grant_text(v, &v->parts[q->part], q->exp_grant, g, sizeof(g));
		json_object_set_new(o, "expected_grant", json_string(g));
	}
	json_object_set_new(o, "errno", json_string(q->p.err ? strerrorname_np(q->p.err) ?: "?" :
						       "0"));
	if (q->p.cookie)
		json_object_set_new(o, "cookie", json_integer((json_int_t)q->p.cookie));
	if (q->ev_found)
		json_object_set_new(o, "event_reason", json_string(q->ev_reason));
	return o;
}

struct tally {
	size_t probes, ok, wrong, not_run;
};

static void tally(const struct verify *v, struct tally *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < v->n; i++) {
		t->probes += v->pr[i].p.said != BH_SAID_NOT_RUN;
		t->ok += v->pr[i].p.said != BH_SAID_NOT_RUN && probe_ok(&v->pr[i]);
	}
	t->wrong = t->probes - t->ok;
	for (i = 0; i < v->nparts; i++)
		t->not_run += v->parts[i].not_run;
}

/* "; revocation cut in 0.21 ms; expiry cut in 1.3 ms" from v->cuts. */
static void cut_summary(const struct verify *v, char *buf, size_t len)
{
	size_t off = 0, i;

	buf[0] = '\0';
	for (i = 0; i < json_array_size(v->cuts) && off < len; i++) {
		const json_t *c = json_array_get(v->cuts, i);
		const json_t *ms = json_object_get(c, "cut_ms");

		if (json_is_true(json_object_get(c, "ok")) && ms && json_object_get(c, "revoke_ms"))
			off += snprintf(buf + off, len - off, "; %s cut in %.2f ms (the revoke "
					"returned after %.2f ms, the first packet was dropped %.3f ms "
					"later)", json_string_value(json_object_get(c, "proof")),
					json_real_value(ms),
					json_real_value(json_object_get(c, "revoke_ms")),
					json_real_value(json_object_get(c, "drop_after_return_ms")));
		else if (json_is_true(json_object_get(c, "ok")) && ms)
			off += snprintf(buf + off, len - off, "; %s cut in %.2f ms",
					json_string_value(json_object_get(c, "proof")), json_real_value(ms));
		else
			off += snprintf(buf + off, len - off, "; %s NOT PROVED: %s",
					json_string_value(json_object_get(c, "proof")),
					json_string_value(json_object_get(c, "failed")) ?: "?");
	}
}

static int cuts_ok(const struct verify *v)
{
	size_t i;

	for (i = 0; i < json_array_size(v->cuts); i++)
		if (!json_is_true(json_object_get(json_array_get(v->cuts, i), "ok")))
			return 0;
	return 1;
}

static json_t *report_json(const struct verify *v)
{
	json_t *o = json_object(), *parts = json_array();
	struct tally t;
	char sum[512];
	size_t i, j;

	tally(v, &t);
	for (i = 0; i < v->nparts; i++) {
		const struct vpart *vp = &v->parts[i];
		json_t *p = json_pack("{s:s, s:s}", "partner", vp->name, "cgroup", vp->cgroup),
		       *arr = json_array();

		if (vp->skip)
			json_object_set_new(p, "skipped", json_string(vp->skip));
		for (j = vp->first; j < vp->first + vp->n; j++)
			json_array_append_new(arr, probe_json(v, &v->pr[j]));
		json_object_set_new(p, "probes", arr);
		json_object_set_new(p, "not_run", json_integer((json_int_t)vp->not_run));
		json_array_append_new(parts, p);
	}
	json_object_set_new(o, "partners", parts);
	json_object_set_new(o, "probes", json_integer((json_int_t)t.probes));
	json_object_set_new(o, "as_expected", json_integer((json_int_t)t.ok));
	json_object_set_new(o, "wrong", json_integer((json_int_t)t.wrong));
	json_object_set_new(o, "not_run", json_integer((json_int_t)t.not_run));
	json_object_set_new(o, "probe_ms", json_real(v->probe_ms));
	json_object_set_new(o, "probe_netns", json_pack("{s:s}", "interfaces", v->ifnames));
	json_object_set_new(o, "proofs", json_incref(v->cuts));
	cut_summary(v, sum, sizeof(sum));
	json_object_set_new(o, "ok", json_boolean(!t.wrong && cuts_ok(v)));
	{
		char line[640];

		snprintf(line, sizeof(line), "verify: %zu probes, %zu as expected, %zu wrong%s",
			 t.probes, t.ok, t.wrong, sum);
		json_object_set_new(o, "summary", json_string(line));
	}
	return o;
}

static void print_table(const json_t *r)
{
	const json_t *parts = json_object_get(r, "partners"), *pr;
	size_t i, j;

	for (i = 0; i < json_array_size(parts); i++) {
		const json_t *p = json_array_get(parts, i);

		printf("partner %s (probing from a child of %s)\n",
		       json_string_value(json_object_get(p, "partner")),
		       json_string_value(json_object_get(p, "cgroup")));
		if (json_object_get(p, "skipped")) {
			printf("  not probed: %s\n\n",
			       json_string_value(json_object_get(p, "skipped")));
			continue;
		}
		printf("  %-34s %-8s %-22s %-30s %s\n", "PROBE", "EXPECTED", "KERNEL SAID", "RULE",
		       "OK");
		pr = json_object_get(p, "probes");
		for (j = 0; j < json_array_size(pr); j++) {
			const json_t *q = json_array_get(pr, j);
			char said[64];

			snprintf(said, sizeof(said), "%s (%s)",
				 json_string_value(json_object_get(q, "kernel")),
				 json_string_value(json_object_get(q, "errno")));
			printf("  %-34s %-8s %-22s %-30s %s  %s\n",
			       json_string_value(json_object_get(q, "probe")),
			       json_string_value(json_object_get(q, "expected")), said,
			       json_string_value(json_object_get(q, "rule")),
			       json_is_true(json_object_get(q, "ok")) ? "ok" : "WRONG",
			       json_string_value(json_object_get(q, "what")));
		}
		if (json_integer_value(json_object_get(p, "not_run")))
			printf("  %lld more probes not run (--max-probes)\n",
			       json_integer_value(json_object_get(p, "not_run")));
		printf("\n");
	}
	pr = json_object_get(r, "proofs");
	for (i = 0; i < json_array_size(pr); i++) {
		const json_t *c = json_array_get(pr, i);

		printf("proof %s (grant %s): %s", json_string_value(json_object_get(c, "proof")),
		       json_string_value(json_object_get(c, "grant")) ?: "-",
		       json_is_true(json_object_get(c, "ok")) ? "ok" :
		       json_string_value(json_object_get(c, "failed")) ?: "failed");
		if (json_object_get(c, "cut_ms"))
			printf("; first drop %.3f ms after the %s", json_real_value(json_object_get(c, "cut_ms")),
			       json_object_get(c, "revoke_ms") ? "revoke request" : "expiry");
		printf("; udp after the cut: %s; tcp socket: %s",
		       json_string_value(json_object_get(c, "udp_after_cut")),
		       json_string_value(json_object_get(c, "tcp_socket")));
		if (json_object_get(c, "tcp_destroyed_ms"))
			printf(" %.1f ms later", json_real_value(json_object_get(c, "tcp_destroyed_ms")));
		printf("; %lld bytes after the cut reached the sink\n",
		       json_integer_value(json_object_get(c, "bytes_after_cut")));
	}
	printf("%s\n", json_string_value(json_object_get(r, "summary")));
}

static void xml_str(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void junit_case(FILE *f, const char *cls, const char *name, const char *failure)
{
	fputs("    <testcase classname=\"", f);
	xml_str(f, cls);
	fputs("\" name=\"", f);
	xml_str(f, name);
	if (!failure) {
		fputs("\"/>\n", f);
		return;
	}
	fputs("\">\n      <failure message=\"", f);
	xml_str(f, failure);
	fputs("\"/>\n    </testcase>\n", f);
}

static int write_junit(const char *path, const json_t *r)
{
	const json_t *parts = json_object_get(r, "partners"), *pr = json_object_get(r, "proofs");
	FILE *f = fopen(path, "we");
	size_t i, j;

	if (!f) {
		fprintf(stderr, "bulkhead verify: --junit %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bulkhead "
		"verify\" tests=\"%lld\" failures=\"%lld\">\n",
		json_integer_value(json_object_get(r, "probes")) + (json_int_t)json_array_size(pr),
		json_integer_value(json_object_get(r, "wrong")));
	for (i = 0; i < json_array_size(parts); i++) {
		const json_t *p = json_array_get(parts, i), *q = json_object_get(p, "probes");
		const char *pn = json_string_value(json_object_get(p, "partner"));

		fputs("  <testsuite name=\"", f);
		xml_str(f, pn);
		fprintf(f, "\" tests=\"%zu\">\n", json_array_size(q));
		for (j = 0; j < json_array_size(q); j++) {
			const json_t *e = json_array_get(q, j);
			char name[256], fail[256];

			snprintf(name, sizeof(name), "%s (%s)",
				 json_string_value(json_object_get(e, "probe")),
				 json_string_value(json_object_get(e, "what")));
			snprintf(fail, sizeof(fail), "expected %s, kernel said %s (%s), rule %s",
				 json_string_value(json_object_get(e, "expected")),
				 json_string_value(json_object_get(e, "kernel")),
				 json_string_value(json_object_get(e, "errno")),
				 json_string_value(json_object_get(e, "rule")));
			junit_case(f, pn, name, json_is_true(json_object_get(e, "ok")) ? NULL : fail);
		}
		fputs("  </testsuite>\n", f);
	}
	fprintf(f, "  <testsuite name=\"proofs\" tests=\"%zu\">\n", json_array_size(pr));
	for (i = 0; i < json_array_size(pr); i++) {
		const json_t *c = json_array_get(pr, i);

		junit_case(f, "proofs", json_string_value(json_object_get(c, "proof")),
			   json_is_true(json_object_get(c, "ok")) ? NULL :
			   json_string_value(json_object_get(c, "failed")) ?: "failed");
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	return fclose(f) ? -errno : 0;
}

/* ---- the run ---- */

static void on_signal(int sig)
{
	(void)sig;
	bh_verify_stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: EINTR */

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The revocation and expiry proofs, for the first partner probed. */
static int prove_cuts(struct verify *v)
{
	static const unsigned int ttls[] = { 0, 1 };
	struct vpart *vp = NULL;
	char why[256];
	size_t i;

	for (i = 0; i < v->nparts && !vp; i++)
		if (!v->parts[i].skip && !v->parts[i].audit && v->parts[i].probe_cg[0])
			vp = &v->parts[i];
	if (!vp) {
		fprintf(stderr, "bulkhead verify: no enforced partner with a cgroup to prove "
			"revocation with (--no-revocation to skip)\n");
		return -ENOENT;
	}
	for (i = 0; i < 2 && !bh_verify_stop; i++) {
		json_t *c = bh_verify_cut(&v->env, vp->probe_cg, v->a.control, vp->name, ttls[i],
					  why, sizeof(why));

		if (!c) {
			fprintf(stderr, "bulkhead verify: the %s proof could not run: %s\n",
				ttls[i] ? "expiry" : "revocation", why);
			return -EIO;
		}
		json_array_append_new(v->cuts, c);
	}
	return bh_verify_stop ? -EINTR : 0;
}

static int run(struct verify *v)
{
	struct timespec t0, t1;
	size_t i, budget;
	int err = 0;

	budget = v->max_probes / (v->nparts ? v->nparts : 1);
	for (i = 0; i < v->nparts; i++)
		if (!v->parts[i].skip)
			plan_partner(v, i, budget ? budget : 1);
	err = bh_probe_env_open(&v->env, 1);
	if (err)
		return err;
	bh_probe_ifnames(v->env.probe_ns, v->ifnames, sizeof(v->ifnames));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < v->nparts && !err && !bh_verify_stop; i++)
		err = probe_partner(v, &v->parts[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	v->probe_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (!err && !bh_verify_stop) {
		trie_rules(v);
		wait_events(v);
	}
	if (!err && v->revocation && !bh_verify_stop)
		err = prove_cuts(v);
	for (i = 0; i < v->nparts; i++)
		if (v->parts[i].probe_cg[0])
			bh_probe_cgroup_remove(v->parts[i].probe_cg);
	bh_probe_env_close(&v->env);
	return bh_verify_stop ? -EINTR : err;
}

static void verify_free(struct verify *v)
{
	if (v->eff.partners)
		bh_effective_free(&v->eff, v->eff_shared);
	bh_policy_free(&v->file);
	bh_jitset_free(&v->js);
	if (v->trie_fd >= 0)
		close(v->trie_fd);
	if (v->maps_open)
		bh_maps_close(&v->m);
	json_decref(v->cuts);
	free(v->parts);
	free(v->pr);
}

int bh_cmd_verify(int argc, char **argv)
{
	static const struct cli_opt own[] = {
		{ "policy", 'p', required_argument }, { "junit", 'J', required_argument },
		{ "max-probes", 'm', required_argument }, { "revocation", 'r', no_argument },
		{ "no-revocation", 'R', no_argument }, { "log-dir", 'l', required_argument },
		{ "quiet", 'q', no_argument },
		{ 0 }
	};
	struct verify v = { .policy = getenv("BULKHEAD_POLICY"), .log_dir = BH_DEFAULT_LOG_DIR,
			    .max_probes = DEFAULT_MAX_PROBES, .revocation = 1, .trie_fd = -1,
			    .env = { .probe_ns = -1, .wire_ns = -1, .sink_ns = -1 } };
	json_t *r;
	int rc, err;

	rc = cli_parse(argc, argv, OPT_JSON | OPT_PIN_DIR | OPT_CONTROL | OPT_VERBOSE, own,
		       verify_opt, &v, verify_usage, 0, 1024, &v.a);
	if (rc >= 0)
		return rc;
	v.json = v.a.json;
	v.tty = !v.quiet && isatty(STDERR_FILENO);
	v.cuts = json_array();
	catch_signals();
	err = load_state(&v);
	if (!err && v.revocation && !daemon_up(v.a.control)) {
		fprintf(stderr, "bulkhead verify: the revocation proof needs the daemon and none "
			"answers at %s (--no-revocation for the probes alone)\n", v.a.control);
		err = -ENOTCONN;
	}
	err = err ?: run(&v);
	if (err == -EINTR)
		fprintf(stderr, "bulkhead verify: interrupted; everything it made is removed\n");
	if (err) {
		verify_free(&v);
		return 2;
	}
	r = report_json(&v);
	if (v.json) {
		if (!json_dumpf(r, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER))
			putchar('\n');
	} else {
		print_table(r);
	}
	rc = json_is_true(json_object_get(r, "ok")) ? 0 : 1;
	if (v.junit && write_junit(v.junit, r))
		rc = 2;
	json_decref(r);
	verify_free(&v);
	return rc;
}
