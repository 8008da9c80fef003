// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead trace`: options and --help, the filters, and the pass over the
 * merged events that feeds the timeline, --json, or the summary (and its
 * HTML and DOT renderings). Reading and merging is tracelog.c, the report
 * tracesum.c, the graph tracegraph.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "events.h"
#include "trace.h"
#include "tracesum.h"

#define DEFAULT_LOG_DIR "/var/log/bulkhead"

/* ------------------------------------------------------------ option values */

/* --to and --port accept exactly what a policy does (values.c). */
int bh_tprefix_parse(const char *text, struct bh_prefix *pf, char *why)
{
	return bh_parse_prefix(text, pf, why);
}

int bh_ttime_parse(const char *text, int64_t now_us, int64_t *us, char *why)
{
	int64_t ns;

	if (!bh_ts_parse(text, strlen(text), us))
		return 0;
	if (!bh_parse_ttl(text, &ns, why)) {
		*us = now_us - ns / 1000;
		return 0;
	}
	snprintf(why, BH_TWHY_LEN,
		 "'%s' is neither RFC 3339 (2026-12-01T10:00:00Z) nor a duration before now "
		 "(90s, 30m, 2h, 1d)", text);
	return -EINVAL;
}

int bh_taddr(const struct bh_tstr *s, uint8_t addr[16])
{
	char buf[64];

	if (!s->p || s->len >= sizeof(buf) || s->esc)
		return -EINVAL;
	memcpy(buf, s->p, s->len);
	buf[s->len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET6, buf, addr) == 1)
		return 0;
	addr[10] = addr[11] = 0xff;
	return inet_pton(AF_INET, buf, addr + 12) == 1 ? 0 : -EINVAL;
}

int bh_prefix_has(const struct bh_prefix *pf, const uint8_t addr[16])
{
	unsigned int full = pf->plen / 8, rest = pf->plen % 8;

	if (memcmp(pf->addr, addr, full))
		return 0;
	return !rest || !((pf->addr[full] ^ addr[full]) & (0xff00 >> rest));
}

/* Event types of schema v1 (docs/events.md), which no kernel enum names. */
static const char *const types[] = { "connect", "send", "packet", "flow", "alert", "loss",
				     "policy", "lifecycle", NULL };

static int listed(const char *s, const char *const *set, const char *what, char *why)
{
	size_t i, o;

	for (i = 0; set[i]; i++) {
		if (!strcmp(s, set[i]))
			return 0;
	}
	o = (size_t)snprintf(why, BH_TWHY_LEN, "unknown %s '%s': one of", what, s);
	for (i = 0; set[i] && o < BH_TWHY_LEN; i++)
		o += (size_t)snprintf(why + o, BH_TWHY_LEN - o, " %s", set[i]);
	return -EINVAL;
}

/* s is a name of the enum that name() names (values 0..n-1, names.c), as
 * the events write it. */
static int named(const char *s, const char *(*name)(unsigned int), unsigned int n,
		 const char *what, char *why)
{
	const char *set[257];
	size_t k = 0;

	for (unsigned int v = 0; v < n && k < 256; v++) {
		const char *nm = name(v);
		size_t j;

		for (j = 0; j < k && strcmp(set[j], nm); j++)
			;
		if (j == k && strcmp(nm, "unknown"))
			set[k++] = nm;
	}
	set[k] = NULL;
	return listed(s, set, what, why);
}

static int parse_uint(const char *s, uint32_t max, uint32_t *v)
{
	char *end;
	unsigned long n;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*v = (uint32_t)n;
	return 0;
}

int bh_tfilter_parse(enum bh_tfkind kind, const char *text, struct bh_tfilter *f, char *why)
{
	struct bh_port_range r;

	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->text = text;
	switch (kind) {
	case BH_TF_VERDICT:
		return named(text, bh_verdict_str, BH_VERDICT__MAX, "verdict", why);
	case BH_TF_REASON:
		return named(text, bh_reason_str, BH_REASON__MAX, "reason", why);
	case BH_TF_PROTO:
		return named(text, bh_proto_str, 256, "proto", why);
	case BH_TF_TYPE:
		return listed(text, types, "type", why);
	case BH_TF_TO:
		return bh_tprefix_parse(text, &f->pf, why);
	case BH_TF_PORT:
		if (bh_parse_port(text, &r, why))
			return -EINVAL;
		f->lo = r.lo;
		f->hi = r.hi;
		return 0;
	case BH_TF_PID:
		if (parse_uint(text, UINT32_MAX, &f->lo)) {
			snprintf(why, BH_TWHY_LEN, "bad pid '%s': a process id", text);
			return -EINVAL;
		}
		return 0;
	default:
		if (!*text) {
			snprintf(why, BH_TWHY_LEN, "empty value");
			return -EINVAL;
		}
		return 0;
	}
}

/* ------------------------------------------------------------ matching */

static int item_match(const struct bh_tfilter *f, const struct bh_tev *ev)
{
	uint8_t a[16];

	switch (f->kind) {
	case BH_TF_PARTNER:
		return bh_tstr_eq(&ev->partner, f->text);
	case BH_TF_VERDICT:
		return bh_tstr_eq(&ev->verdict, f->text);
	case BH_TF_REASON:
		return bh_tstr_eq(&ev->reason, f->text);
	case BH_TF_PROTO:
		return bh_tstr_eq(&ev->proto, f->text);
	case BH_TF_GRANT:
		return bh_tstr_eq(&ev->grant_id, f->text);
	case BH_TF_COMM:
		return bh_tstr_eq(&ev->comm, f->text);
	case BH_TF_TYPE:
		return !strcmp(bh_ttype_name(ev->type), f->text);
	case BH_TF_PID:
		return ev->pid == (int64_t)f->lo;
	case BH_TF_PORT:
		return ev->dport >= (int64_t)f->lo && ev->dport <= (int64_t)f->hi;
	case BH_TF_TO:
		return !bh_taddr(&ev->dst, a) && bh_prefix_has(&f->pf, a);
	default:
		return 0;
	}
}

static int kinds_match(const struct bh_tfilters *fs, const struct bh_tev *ev, int only_partner)
{
	unsigned int want = 0, got = 0;
	size_t i;

	for (i = 0; i < fs->n; i++) {
		const struct bh_tfilter *f = &fs->f[i];
		int m;

		if (only_partner && f->kind != BH_TF_PARTNER)
			continue;
		if (f->kind == BH_TF_PARTNER && !ev->partner.p && !ev->partner.null)
			continue;	/* daemon lines (loss, lifecycle, apply) concern everyone */
		m = item_match(f, ev);
		if (f->neg) {
			if (m)
				return 0;
			continue;
		}
		want |= 1u << f->kind;
		if (m)
			got |= 1u << f->kind;
	}
	return want == got;
}

int bh_tfilter_match(const struct bh_tfilters *fs, const struct bh_tev *ev)
{
	return kinds_match(fs, ev, 0);
}

int bh_tfilter_partner(const struct bh_tfilters *fs, const struct bh_tev *ev)
{
	return kinds_match(fs, ev, 1);
}

/* ------------------------------------------------------------ the timeline */

static void fmt_dest(const struct bh_tev *ev, char *out, size_t len)
{
	char a[64];

	if (ev->path.p) {		/* a UNIX socket name */
		char path[128];

		snprintf(out, len, "%s", bh_tstr_get(&ev->path, path, sizeof(path)));
		return;
	}
	bh_tstr_get(&ev->dst, a, sizeof(a));
	if (ev->dport >= 0 && strchr(a, ':'))
		snprintf(out, len, "[%s]:%lld", a, (long long)ev->dport);
	else if (ev->dport >= 0)
		snprintf(out, len, "%s:%lld", a, (long long)ev->dport);
	else
		snprintf(out, len, "%s", a);
}

/* "who did it" of a policy line, and what it did, from its nested fields. */
static void policy_line(const struct bh_tev *ev, char *out, size_t len)
{
	json_t *o = json_loadb(ev->line, ev->len, 0, NULL), *c, *g;
	const char *action = json_string_value(json_object_get(o, "action"));
	size_t n = 0;
	char ids[160] = "";

	c = json_object_get(o, "caller");
	g = json_object_get(o, "grant");
	if (g) {
		snprintf(ids, sizeof(ids), "%s %s %s", json_string_value(json_object_get(g, "id")) ?: "",
			 json_string_value(json_object_get(g, "to")) ?: "",
			 json_string_value(json_object_get(g, "proto")) ?: "");
	} else if ((g = json_object_get(o, "revoked"))) {
		size_t i;
		json_t *e;

		json_array_foreach(g, i, e) {
			n += (size_t)snprintf(ids + n, n < sizeof(ids) ? sizeof(ids) - n : 0, "%s%s",
					      i ? "," : "", json_string_value(json_object_get(e, "id")) ?: "");
		}
	} else if (json_object_get(o, "result")) {
		snprintf(ids, sizeof(ids), "%s", json_string_value(json_object_get(o, "result")) ?: "");
	}
	if (json_object_get(c, "by"))
		snprintf(out, len, "%s %s (daemon)", action ?: "?", ids);
	else
		snprintf(out, len, "%s %s by uid %lld pid %lld %s", action ?: "?", ids,
			 (long long)json_integer_value(json_object_get(c, "uid")),
			 (long long)json_integer_value(json_object_get(c, "pid")),
			 json_string_value(json_object_get(c, "comm")) ?: "");
	json_decref(o);
}

static void print_line(FILE *out, const struct bh_tev *ev, char *day)
{
	char partner[32], verdict[8], proto[8], dest[128], info[64], comm[32], rest[256];
	time_t secs = (time_t)(ev->ts_us / 1000000);
	struct tm tm;
	char d[16];

	gmtime_r(&secs, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d", &tm);
	if (strcmp(d, day)) {
		fprintf(out, "-- %s (UTC) --\n", d);
		strcpy(day, d);
	}
	fprintf(out, "%02d:%02d:%02d.%03lld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		(long long)(ev->ts_us % 1000000 / 1000));
	bh_tstr_get(&ev->partner, partner, 8);
	if (!ev->partner.p)
		strcpy(partner, ev->partner.null ? "(none)" : "-");
	switch (ev->type) {
	case BH_T_POLICY:
		policy_line(ev, rest, sizeof(rest));
		fprintf(out, "%-7.7s policy %s\n", partner, rest);
		return;
	case BH_T_LOSS:
		bh_tstr_get(&ev->what, info, sizeof(info));
		fprintf(out, "%-7.7s GAP    %lld %s lost\n", partner, (long long)ev->count, info);
		return;
	case BH_T_LIFECYCLE:
		bh_tstr_get(&ev->event, info, sizeof(info));
		if (ev->pid >= 0)
			fprintf(out, "%-7.7s daemon %s pid %lld\n", partner, info, (long long)ev->pid);
		else
			fprintf(out, "%-7.7s daemon %s\n", partner, info);
		return;
	default:
		break;
	}
	bh_tstr_get(&ev->verdict, verdict, sizeof(verdict));
	bh_tstr_get(&ev->proto, proto, sizeof(proto));
	if (ev->path.p)
		snprintf(proto, sizeof(proto), "unix");
	fmt_dest(ev, dest, sizeof(dest));
	if (ev->grant_id.p)
		bh_tstr_get(&ev->grant_id, info, 14);
	else
		bh_tstr_get(&ev->reason, info, 14);
	if (ev->type == BH_T_ALERT)
		snprintf(verdict, sizeof(verdict), "ALERT");
	if (ev->type == BH_T_FLOW && bh_tstr_eq(&ev->phase, "summary"))
		snprintf(rest, sizeof(rest), "tx %lld rx %lld", (long long)ev->tx_bytes,
			 (long long)ev->rx_bytes);
	else if (ev->pid >= 0)
		snprintf(rest, sizeof(rest), "%s[%lld]", bh_tstr_get(&ev->comm, comm, 12),
			 (long long)ev->pid);
	else
		rest[0] = '\0';
	if (ev->count > 1 || (ev->aggregated && ev->count >= 0))
		snprintf(rest + strlen(rest), sizeof(rest) - strlen(rest), "%sx%lld",
			 rest[0] ? " " : "", (long long)ev->count);
	fprintf(out, "%-7.7s %-5.5s %-4.4s %-20s %-13.13s %s\n", partner, verdict, proto, dest,
		info, rest);
}

/* ------------------------------------------------------------ options */

struct topts {
	const char *log_dir;
	int log_dir_set;
	const char **inputs;
	size_t ninputs;
	int json, summary, follow, group;
	const char *html, *dot;
	struct bh_tfilters fs;
	int neg_next;
};

enum {
	O_SINCE = 256, O_UNTIL, O_VERDICT, O_REASON, O_TO, O_PORT, O_PROTO, O_GRANT, O_TYPE,
	O_PID, O_COMM, O_NOT, O_HTML, O_DOT, O_GROUP,
};

static const struct option lopts[] = {
	{ "log-dir", required_argument, NULL, 'l' }, { "input", required_argument, NULL, 'i' },
	{ "since", required_argument, NULL, O_SINCE }, { "until", required_argument, NULL, O_UNTIL },
	{ "verdict", required_argument, NULL, O_VERDICT },
	{ "reason", required_argument, NULL, O_REASON }, { "to", required_argument, NULL, O_TO },
	{ "port", required_argument, NULL, O_PORT }, { "proto", required_argument, NULL, O_PROTO },
	{ "grant", required_argument, NULL, O_GRANT }, { "type", required_argument, NULL, O_TYPE },
	{ "pid", required_argument, NULL, O_PID }, { "comm", required_argument, NULL, O_COMM },
	{ "not", no_argument, NULL, O_NOT }, { "follow", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'j' }, { "summary", no_argument, NULL, 's' },
	{ "html", required_argument, NULL, O_HTML }, { "dot", required_argument, NULL, O_DOT },
	{ "group", required_argument, NULL, O_GROUP }, { "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    bulkhead trace - what a partner touched and tried to touch, from the event logs\n"
"\n"
"SYNOPSIS\n"
"    bulkhead trace [PARTNER...] [--log-dir DIR] [--input FILE]... [FILTER]...\n"
"                   [--json | --summary [--json] | --follow]\n"
"                   [--html FILE] [--dot FILE] [--group N]\n"
"\n"
"DESCRIPTION\n"
"    Reads the JSON Lines event logs that `bulkhead run` writes (docs/events.md):\n"
"    the live files of the log directory (DIR/<partner>.jsonl, DIR/host.jsonl),\n"
"    their rotated siblings (acme.jsonl.1, acme.jsonl.2.gz, ...; gzip is read\n"
"    directly) and any file given with --input. Events of all files are merged\n"
"    by timestamp (each file is read in order, one line at a time: memory does\n"
"    not grow with the size of the logs). The copies host.jsonl keeps of lines\n"
"    that are also in a partner file read in the same run are left out.\n"
"\n"
"    PARTNER...  only these partners' events (and the daemon's own lines:\n"
"                gaps, policy applies, the daemon's life).\n"
"\n"
"SOURCES\n"
"    -l, --log-dir DIR  the log directory (default " DEFAULT_LOG_DIR ", unless\n"
"                       only --input is given).\n"
"    -i, --input FILE   one more file to read, plain or gzip; '-' is stdin.\n"
"                       May be repeated.\n"
"\n"
"FILTERS\n"
"    Filters of different kinds must all match; several of one kind match when\n"
"    any of them does. --not negates the filter right after it.\n"
"    --since T, --until T  RFC 3339 (2026-12-01T10:00:00Z, offsets allowed) or a\n"
"                       duration before now: 90s, 30m, 2h, 1d.\n"
"    --verdict V        allow, deny or audit.\n"
"    --reason R         granted, no_grant, never, expired, revoked, unknown_partner.\n"
"    --to CIDR          destination inside an address or prefix (10.20.0.0/16).\n"
"    --port N[-M]       destination port or inclusive range.\n"
"    --proto P          tcp, udp, icmp, other.\n"
"    --grant ID         decided by grant ID (acme/2, acme/j1).\n"
"    --type T           connect, send, packet, flow, alert, loss, policy, lifecycle.\n"
"    --pid N, --comm NAME  the process (as in the event).\n"
"    --not              negate the next filter: --not --verdict allow.\n"
"\n"
"OUTPUT\n"
"    (default)          a timeline, one event a line, 80 columns: time (UTC,\n"
"                       a date line when the day changes), partner, verdict (or\n"
"                       policy, GAP, daemon, ALERT), proto, destination, grant or\n"
"                       reason, process[pid] and xCOUNT for aggregated lines.\n"
"    -j, --json         the matching lines as they are in the logs (JSON Lines).\n"
"    -s, --summary      the incident report per partner: grants in force over the\n"
"                       window with who granted and revoked them, every\n"
"                       destination with first and last time, counts per verdict\n"
"                       and bytes, denied lateral attempts by destination and\n"
"                       port, what was attempted after each revocation or expiry,\n"
"                       alerts, and every gap (loss lines: time, what, count).\n"
"                       With --json, one JSON object (docs/trace.md).\n"
"    --html FILE        the summary, a time strip and an SVG lateral-movement graph\n"
"                       (the partner in the middle, one node per destination, edges\n"
"                       coloured by verdict, width by count, port labels, counts on\n"
"                       hover) as one self-contained HTML file: no script, style,\n"
"                       font or image from anywhere else.\n"
"    --dot FILE         the same graph for Graphviz (dot -Tsvg FILE).\n"
"    --group N          graph nodes per /N prefix instead of per host.\n"
"    -f, --follow       after the logs, keep printing lines as the daemon writes\n"
"                       them, across a log rotation (timeline or --json; Ctrl-C\n"
"                       ends it).\n"
"\n"
"BAD INPUT\n"
"    A torn last line, a cut gzip stream, a line that is not JSON, an unknown\n"
"    type or a newer schema version `v` is skipped and counted; the first few are\n"
"    named (file:line) on stderr and in the summary.\n"
"\n"
"EXIT STATUS\n"
"    0 when at least one file was read (even with skipped lines), 1 when none\n"
"    could be, 2 for a usage error.\n"
"\n"
"EXAMPLES\n"
"    bulkhead trace acme --since 2h --not --verdict allow\n"
"    bulkhead trace acme --summary --since 2026-12-01T09:00:00Z --until 2026-12-01T11:00:00Z\n"
"    bulkhead trace acme --html incident.html --group 24\n"
"    zcat old.jsonl.gz | bulkhead trace --input - --to 10.20.0.0/16 --json\n"
"\n"
"SEE ALSO\n"
"    docs/trace.md, docs/events.md, bulkhead status\n");
}

static int add_filter(struct topts *o, enum bh_tfkind kind, const char *text, const char *opt)
{
	char why[BH_TWHY_LEN] = "";
	struct bh_tfilter *nf = realloc(o->fs.f, (o->fs.n + 1) * sizeof(*nf));

	if (!nf)
		return -ENOMEM;
	o->fs.f = nf;
	if (bh_tfilter_parse(kind, text, &nf[o->fs.n], why)) {
		fprintf(stderr, "bulkhead trace: %s %s: %s\n", opt, text, why);
		return -EINVAL;
	}
	nf[o->fs.n++].neg = o->neg_next;
	o->neg_next = 0;
	return 0;
}

static int opt_filter_kind(int c)
{
	switch (c) {
	case O_VERDICT: return BH_TF_VERDICT;
	case O_REASON: return BH_TF_REASON;
	case O_TO: return BH_TF_TO;
	case O_PORT: return BH_TF_PORT;
	case O_PROTO: return BH_TF_PROTO;
	case O_GRANT: return BH_TF_GRANT;
	case O_TYPE: return BH_TF_TYPE;
	case O_PID: return BH_TF_PID;
	case O_COMM: return BH_TF_COMM;
	default: return -1;
	}
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int on_opt(struct topts *o, int c, const char *arg, const char *name)
{
	char why[BH_TWHY_LEN];
	int k = opt_filter_kind(c);
	uint32_t g;

	if (k >= 0)
		return add_filter(o, (enum bh_tfkind)k, arg, name);
	if (o->neg_next) {
		fprintf(stderr, "bulkhead trace: --not must come right before a filter\n");
		return -EINVAL;
	}
	switch (c) {
	case 'l': o->log_dir = arg; o->log_dir_set = 1; return 0;
	case 'i': {
		const char **ni = realloc(o->inputs, (o->ninputs + 1) * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		o->inputs = ni;
		o->inputs[o->ninputs++] = arg;
		return 0;
	}
	case O_SINCE:
	case O_UNTIL:
		if (bh_ttime_parse(arg, now_us(), c == O_SINCE ? &o->fs.since_us : &o->fs.until_us,
				   why)) {
			fprintf(stderr, "bulkhead trace: %s: %s\n", name, why);
			return -EINVAL;
		}
		return 0;
	case O_NOT: o->neg_next = 1; return 0;
	case 'f': o->follow = 1; return 0;
	case 'j': o->json = 1; return 0;
	case 's': o->summary = 1; return 0;
	case O_HTML: o->html = arg; return 0;
	case O_DOT: o->dot = arg; return 0;
	case O_GROUP:
		if (parse_uint(arg, 128, &g) || !g) {
			fprintf(stderr, "bulkhead trace: --group %s: a prefix length, 1 to 32 "
				"(IPv4) or 128 (IPv6)\n", arg);
			return -EINVAL;
		}
		o->group = (int)g;
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct topts *o)
{
	int c, i, idx;

	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "l:i:fjsh", lopts, &idx)) != -1) {
		char name[40];

		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?')
			goto usage_err;
		name[0] = '\0';
		for (i = 0; lopts[i].name; i++) {
			if (lopts[i].val == c)
				snprintf(name, sizeof(name), "--%s", lopts[i].name);
		}
		if (on_opt(o, c, optarg, name))
			goto usage_err;
	}
	if (o->neg_next) {
		fprintf(stderr, "bulkhead trace: --not at the end: it negates the filter after it\n");
		goto usage_err;
	}
	if (o->follow && (o->summary || o->html || o->dot)) {
		fprintf(stderr, "bulkhead trace: --follow goes with the timeline or --json, "
			"not with --summary, --html or --dot\n");
		goto usage_err;
	}
	if (o->fs.since_us && o->fs.until_us && o->fs.since_us > o->fs.until_us) {
		fprintf(stderr, "bulkhead trace: --since is after --until\n");
		goto usage_err;
	}
	for (i = optind; i < argc; i++) {
		if (add_filter(o, BH_TF_PARTNER, argv[i], "partner"))
			goto usage_err;
	}
	if (!o->log_dir)
		o->log_dir = DEFAULT_LOG_DIR;
	return -1;
usage_err:
	fprintf(stderr, "`bulkhead trace --help` lists the options.\n");
	return 2;
}

/* ------------------------------------------------------------ reordering */

/*
 * The daemon writes some lines later than their ts (an aggregated line
 * carries its window's last attempt and is written 2-3 s later; kernel
 * events wait in the ring), so a file is ordered only roughly. The timeline
 * and --json hold the matching lines for REORDER_LAG_US (at most
 * REORDER_MAX of them) and print them in ts order; the summary needs no
 * order. --follow prints as lines come.
 */
#define REORDER_LAG_US (10 * 1000000LL)
#define REORDER_MAX 65536

struct rent {
	int64_t ts;
	uint64_t seq;
	char *line;
	size_t len;
};

struct reorder {
	struct rent *h;
	size_t n, cap;
	uint64_t seq;
	int64_t newest;
};

static int rent_less(const struct rent *a, const struct rent *b)
{
	return a->ts != b->ts ? a->ts < b->ts : a->seq < b->seq;
}

static int reorder_push(struct reorder *r, const struct bh_tev *ev)
{
	struct rent e = { ev->ts_us, r->seq++, malloc(ev->len ? ev->len : 1), ev->len };
	size_t i;

	if (!e.line)
		return -ENOMEM;
	memcpy(e.line, ev->line, ev->len);
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 1024;
		struct rent *nh = realloc(r->h, ncap * sizeof(*nh));

		if (!nh) {
			free(e.line);
			return -ENOMEM;
		}
		r->h = nh;
		r->cap = ncap;
	}
	for (i = r->n++; i > 0 && rent_less(&e, &r->h[(i - 1) / 2]); i = (i - 1) / 2)
		r->h[i] = r->h[(i - 1) / 2];
	r->h[i] = e;
	if (ev->ts_us > r->newest)
		r->newest = ev->ts_us;
	return 0;
}

static struct rent reorder_pop(struct reorder *r)
{
	struct rent top = r->h[0], last = r->h[--r->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= r->n)
			break;
		if (c + 1 < r->n && rent_less(&r->h[c + 1], &r->h[c]))
			c++;
		if (!rent_less(&r->h[c], &last))
			break;
		r->h[i] = r->h[c];
		i = c;
	}
	if (r->n)
		r->h[i] = last;
	return top;
}

static void emit(const struct topts *o, const struct bh_tev *ev, char *day);

/* Print what is old enough (all of it when flush). */
static void reorder_drain(struct reorder *r, const struct topts *o, char *day, int flush)
{
	while (r->n && (flush || r->n > REORDER_MAX || r->h[0].ts < r->newest - REORDER_LAG_US)) {
		struct rent e = reorder_pop(r);
		struct bh_tev ev;

		if (!bh_tev_parse(e.line, e.len, &ev, NULL))
			emit(o, &ev, day);
		free(e.line);
	}
}

static void reorder_free(struct reorder *r)
{
	while (r->n)
		free(reorder_pop(r).line);
	free(r->h);
}

/* ------------------------------------------------------------ the run */

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void emit(const struct topts *o, const struct bh_tev *ev, char *day)
{
	if (o->json) {
		fwrite(ev->line, 1, ev->len, stdout);
		putchar('\n');
	} else {
		print_line(stdout, ev, day);
	}
}

static int in_window(const struct bh_tfilters *fs, int64_t ts)
{
	return (!fs->since_us || ts >= fs->since_us) && (!fs->until_us || ts <= fs->until_us);
}

static int open_sources(struct topts *o, struct bh_tmerge *m, char **partners, int np)
{
	size_t i;
	int err = 0;

	if (o->log_dir_set || !o->ninputs)
		err = bh_tmerge_add_dir(m, o->log_dir, partners, np);
	for (i = 0; i < o->ninputs && (!err || err == -ENOENT || err == -EACCES ||
				       err == -ENOTDIR); i++)
		err = bh_tmerge_add_file(m, o->inputs[i]);
	return err == -ENOMEM ? err : 0;
}

static void print_bad(const struct bh_tbad_stats *b)
{
	int k;

	if (!b->total)
		return;
	fprintf(stderr, "bulkhead trace: %llu lines skipped:", (unsigned long long)b->total);
	for (k = 0; k < BH_BAD__MAX; k++) {
		if (b->n[k])
			fprintf(stderr, " %llu %s;", (unsigned long long)b->n[k], bh_tbad_name(k));
	}
	fputc('\n', stderr);
}

static int write_outputs(struct topts *o, struct bh_tsum *sum, struct bh_tmerge *m)
{
	json_t *j = bh_tsum_json(sum, bh_tmerge_lines(m), bh_tmerge_bad(m));
	int err = 0;

	if (!j)
		return -ENOMEM;
	if (o->summary && o->json) {
		if (json_dumpf(j, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF)
			err = -EIO;
	} else if (o->summary) {
		err = bh_tsum_text(j, stdout);
	}
	if (!err && o->html)
		err = bh_tgraph_html(j, o->group, o->html);
	if (!err && o->dot)
		err = bh_tgraph_dot(j, o->group, o->dot);
	json_decref(j);
	return err;
}

static int run(struct topts *o, char **partners, int np)
{
	struct bh_tmerge_opts mo = { .follow = o->follow, .dedupe_host = 1, .stop = &stop_flag };
	int want_sum = o->summary || o->html || o->dot, r, rc = 1;
	struct bh_tsum_opts so = { o->fs.since_us, o->fs.until_us };
	struct bh_tmerge *m = NULL;
	struct bh_tsum *sum = NULL;
	struct reorder ro = { 0 };
	struct bh_tev ev;
	char day[16] = "";

	if (bh_tmerge_new(&m, &mo) || open_sources(o, m, partners, np) ||
	    (want_sum && bh_tsum_new(&sum, &so))) {
		fprintf(stderr, "bulkhead trace: out of memory\n");
		goto out;
	}
	if (!bh_tmerge_open_all(m)) {
		fprintf(stderr, "bulkhead trace: no event log could be read\n");
		goto out;
	}
	while ((r = bh_tmerge_next(m, &ev)) == 1) {
		int inw = in_window(&o->fs, ev.ts_us);

		if (want_sum && ev.type == BH_T_POLICY && bh_tfilter_partner(&o->fs, &ev))
			bh_tsum_policy(sum, &ev);
		if (want_sum && inw && ev.type == BH_T_LOSS && bh_tfilter_partner(&o->fs, &ev)) {
			bh_tsum_add(sum, &ev);
			continue;
		}
		if (!inw || !bh_tfilter_match(&o->fs, &ev))
			continue;
		if (want_sum) {
			bh_tsum_add(sum, &ev);
		} else if (o->follow) {
			emit(o, &ev, day);
			fflush(stdout);
		} else if (reorder_push(&ro, &ev)) {
			fprintf(stderr, "bulkhead trace: out of memory\n");
			goto out;
		} else {
			reorder_drain(&ro, o, day, 0);
		}
	}
	reorder_drain(&ro, o, day, 1);
	if (r < 0) {
		fprintf(stderr, "bulkhead trace: reading the logs: %s\n", strerror(-r));
		goto out;
	}
	print_bad(bh_tmerge_bad(m));
	rc = want_sum && write_outputs(o, sum, m) ? 1 : 0;
	if (fflush(stdout))
		rc = 1;
out:
	reorder_free(&ro);
	bh_tsum_free(sum);
	bh_tmerge_free(m);
	return rc;
}

int bh_cmd_trace(int argc, char **argv)
{
	struct topts o = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	char **partners = NULL;
	int rc, np = 0, i;

	rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		goto out;
	partners = calloc((size_t)argc, sizeof(*partners));
	for (i = optind; partners && i < argc; i++)
		partners[np++] = argv[i];
	if (o.follow) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	rc = partners ? run(&o, partners, np) : 1;
out:
	free(partners);
	free(o.inputs);
	free(o.fs.f);
	return rc;
}
