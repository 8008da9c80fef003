// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Prometheus metrics (metrics.h, docs/metrics.md): the exposition text from
 * the pinned maps (the counters `bulkhead status` reads) and the grants in
 * force, the atomic metrics file, and the HTTP endpoint served from the
 * daemon's poll loop with non-blocking sockets only.
 *
 * Naming follows Prometheus' rules: the bulkhead_ prefix, base units
 * (seconds), _total on counters, and bounded labels only (partner, verdict,
 * reason, rule, stage, source): never a destination or a grant id.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bulkhead/bulkhead.h>
#include <bulkhead/events.h>
#include "grants.h"
#include "maps.h"
#include "metrics.h"
#include "names.h"
#include "version.h"

const double bh_cutoff_le[BH_CUTOFF_NBUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1,
};

void bh_metrics_observe(struct bh_metrics_hist *h, double seconds)
{
	for (int i = 0; i < BH_CUTOFF_NBUCKETS; i++)
		if (seconds <= bh_cutoff_le[i])
			h->bucket[i]++;
	h->count++;
	h->sum += seconds;
}


/* ------------------------------------------------------------------ render */

struct out {
	FILE *f;
	const struct bh_metrics_src *s;
	char names[BH_MAX_PARTNERS][sizeof(((struct bh_pname *)0)->name) + 1];	/* "" for ids without a partner */
};

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void decisions(struct out *o)
{
	family(o, "bulkhead_decisions_total", "counter",
	       "Decisions the kernel made for partner sockets, by partner, verdict and reason.");
	for (uint32_t id = 0; id < BH_MAX_PARTNERS; id++) {
		struct bh_counters c;
		const char *v;

		if (id && !o->names[id][0])
			continue;
		bh_maps_counters_sum(o->s->maps, id, &c);
		if (!id && !c.verdicts[0] && !c.verdicts[1] && !c.verdicts[2])
			continue;	/* as `status`: no unknown-partner decisions, no row */
		/* allow is always reason granted; the other reasons are deny in
		 * enforce mode and audit in audit mode */
		v = !c.verdicts[BH_VERDICT_AUDIT] ? "deny" : !c.verdicts[BH_VERDICT_DENY] ? "audit" :
		    "deny_or_audit";
		fprintf(o->f, "bulkhead_decisions_total{partner=\"%s\",verdict=\"allow\",reason=\"granted\"} %llu\n",
			o->names[id], (unsigned long long)c.verdicts[BH_VERDICT_ALLOW]);
		for (int r = 0; r < BH_REASON__MAX; r++)
			if (r != BH_REASON_GRANTED)
				fprintf(o->f, "bulkhead_decisions_total{partner=\"%s\",verdict=\"%s\",reason=\"%s\"} %llu\n",
					o->names[id], v, bh_reason_str(r), (unsigned long long)c.reasons[r]);
	}
}

static void lost(struct out *o)
{
	static uint64_t per[BH_MAX_PARTNERS];
	struct bh_cgpath_key k, next;
	struct bh_cgpath_val v;
	struct bh_lost l;
	int have = 0;

	family(o, "bulkhead_events_lost_total", "counter",
	       "Events not delivered as lines (each is still counted in decisions), by stage; "
	       "the kernel's ring and maps are host-wide (partner \"\").");
	bh_maps_lost_read(o->s->maps, &l);
	fprintf(o->f, "bulkhead_events_lost_total{partner=\"\",stage=\"ring_full\"} %llu\n"
		"bulkhead_events_lost_total{partner=\"\",stage=\"flood_map_full\"} %llu\n"
		"bulkhead_events_lost_total{partner=\"\",stage=\"uncounted_denies\"} %llu\n"
		"bulkhead_events_lost_total{partner=\"\",stage=\"flow_map_full\"} %llu\n",
		(unsigned long long)l.ring_full, (unsigned long long)l.flood_full,
		(unsigned long long)l.uncounted, (unsigned long long)l.flow_full);
	memset(per, 0, sizeof(per));
	while (bh_maps_cgpath_next(o->s->maps, have ? &k : NULL, &next) == 0) {
		k = next;
		have = 1;
		if (!bh_maps_cgpath_get(o->s->maps, &k, &v) && v.partner < BH_MAX_PARTNERS)
			per[v.partner] += v.ev_lost;
	}
	for (uint32_t id = 1; id < BH_MAX_PARTNERS; id++)
		if (o->names[id][0])
			fprintf(o->f, "bulkhead_events_lost_total{partner=\"%s\",stage=\"lifecycle_ring\"} %llu\n",
				o->names[id], (unsigned long long)per[id]);
}

static void alerts(struct out *o)
{
	family(o, "bulkhead_alerts_total", "counter",
	       "Alerts raised (lines plus suppressed repeats), by partner and rule.");
	for (uint32_t id = 1; id < BH_MAX_PARTNERS; id++) {
		if (!o->names[id][0])
			continue;
		for (unsigned int r = 0; r < BH_RULE__MAX; r++)
			fprintf(o->f, "bulkhead_alerts_total{partner=\"%s\",rule=\"%s\"} %llu\n",
				o->names[id], bh_rule_str(r), (unsigned long long)(o->s->alerts ?
				o->s->alerts(o->s->alerts_ctx, id, r) : 0));
	}
}

static void grants(struct out *o)
{
	const struct bh_policy *e = o->s->gs ? &o->s->gs->eff : NULL;
	size_t np = e ? e->npartners : 0, i;
	uint64_t (*n)[2] = calloc(np + 1, sizeof(*n)), *soon = calloc(np + 1, sizeof(*soon));

	family(o, "bulkhead_grants", "gauge", "Grants in force, by partner and source (policy, jit).");
	for (i = 0; n && soon && e && i < e->ngrants; i++) {
		const struct bh_grant *g = &e->grants[i];
		uint64_t exp = bh_grants_expiry_boot(g, o->s->clk);

		if (g->partner_idx >= np || (exp && exp <= (uint64_t)o->s->clk->boot_ns))
			continue;	/* dead already: the kernel allows nothing by it */
		n[g->partner_idx][!!(g->id & BH_JIT_GRANT_BIT)]++;
		if (exp && (!soon[g->partner_idx] || exp < soon[g->partner_idx]))
			soon[g->partner_idx] = exp;
	}
	for (i = 0; n && i < np; i++)
		fprintf(o->f, "bulkhead_grants{partner=\"%s\",source=\"policy\"} %llu\n"
			"bulkhead_grants{partner=\"%s\",source=\"jit\"} %llu\n", e->partners[i].name,
			(unsigned long long)n[i][0], e->partners[i].name, (unsigned long long)n[i][1]);
	family(o, "bulkhead_grant_expiry_timestamp_seconds", "gauge",
	       "When the partner's next grant in force expires (Unix time); no sample: none expires.");
	for (i = 0; soon && i < np; i++)
		if (soon[i])
			fprintf(o->f, "bulkhead_grant_expiry_timestamp_seconds{partner=\"%s\"} %.3f\n",
				e->partners[i].name,
				(double)bh_clock_boot_to_wall(o->s->clk, (int64_t)soon[i]) / 1e9);
	free(n);
	free(soon);
}

static void cutoff(struct out *o)
{
	static const struct bh_metrics_hist none;
	const struct bh_metrics_hist *h = o->s->cutoff ? o->s->cutoff : &none;

	family(o, "bulkhead_revocation_cutoff_seconds", "histogram",
	       "From a revocation, narrowing or expiry to the sockets it cut off destroyed.");
	for (int i = 0; i < BH_CUTOFF_NBUCKETS; i++)
		fprintf(o->f, "bulkhead_revocation_cutoff_seconds_bucket{le=\"%g\"} %llu\n",
			bh_cutoff_le[i], (unsigned long long)h->bucket[i]);
	fprintf(o->f, "bulkhead_revocation_cutoff_seconds_bucket{le=\"+Inf\"} %llu\n"
		"bulkhead_revocation_cutoff_seconds_sum %.9f\n"
		"bulkhead_revocation_cutoff_seconds_count %llu\n",
		(unsigned long long)h->count, h->sum, (unsigned long long)h->count);
}

static void info(struct out *o)
{
	family(o, "bulkhead_verify_last_success_timestamp_seconds", "gauge",
	       "When `bulkhead verify` last found every probe as expected (Unix time); no sample: never.");
	if (o->s->verify_ok_unix_ns)
		fprintf(o->f, "bulkhead_verify_last_success_timestamp_seconds %.3f\n",
			(double)o->s->verify_ok_unix_ns / 1e9);
	family(o, "bulkhead_build_info", "gauge", "The running bulkhead's version (always 1).");
	fprintf(o->f, "bulkhead_build_info{version=\"%s\"} 1\n", BH_VERSION);
}

int bh_metrics_render(const struct bh_metrics_src *s, char **buf, size_t *len)
{
	struct out *o = calloc(1, sizeof(*o));
	int err = 0;

	*buf = NULL;
	if (!o || !(o->f = open_memstream(buf, len))) {
		free(o);
		return -ENOMEM;
	}
	o->s = s;
	for (uint32_t id = 1; id < BH_MAX_PARTNERS; id++) {
		struct bh_pname n = {};

		if (!bh_maps_pname_read(s->maps, id, &n) && n.name[0])
			memcpy(o->names[id], n.name, sizeof(n.name));
	}
	decisions(o);
	lost(o);
	alerts(o);
	grants(o);
	cutoff(o);
	info(o);
	if (ferror(o->f))
		err = -ENOMEM;
	if (fclose(o->f) && !err)
		err = -ENOMEM;
	free(o);
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

/* -------------------------------------------------------------------- file */

int bh_metrics_write_file(const char *path, const char *buf, size_t len)
{
	char *tmp;
	int fd, err = 0;

	/* the textfile collector reads only *.prom: a temporary name it skips */
	if (asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		err = -errno;
	for (size_t off = 0; !err && off < len;) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (fd >= 0 && close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err && fd >= 0)
		unlink(tmp);
	free(tmp);
	return err;
}

/* -------------------------------------------------------------------- HTTP */

#define MAX_CLIENTS (BH_METRICS_MAX_FDS - 1)
#define REQ_MAX 4096
#define CLIENT_TIMEOUT_NS (5 * BH_NS_PER_SEC)

struct client {
	int fd;				/* -1: free */
	int64_t since_ns;		/* accepted (CLOCK_BOOTTIME) */
	size_t inlen, outoff, outlen;
	char in[REQ_MAX];
	char *out;			/* the answer, once the request is complete */
};

struct bh_metrics_http {
	int fd;
	struct client c[MAX_CLIENTS];
};

/* "127.0.0.1:9477" or "[::1]:9477" into ss; loopback says whether it is. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl,
			int *loopback, char *why)
{
	const char *colon = strrchr(spec, ':');
	char host[64];
	char *end;
	long port;
	size_t hl;

	if (!colon || colon == spec)
		goto bad;
	port = strtol(colon + 1, &end, 10);
	hl = (size_t)(colon - spec);
	if (*end || colon[1] == '\0' || port < 1 || port > 65535 || hl >= sizeof(host))
		goto bad;
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		memcpy(host, spec + 1, hl - 2);
		host[hl - 2] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		*sl = sizeof(*a);
		return 0;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		goto bad;
	*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	*sl = sizeof(*a);
	return 0;
bad:
	snprintf(why, 256, "--metrics-listen %s: expected ADDR:PORT with a numeric address, "
		 "like 127.0.0.1:9477 or [::1]:9477", spec);
	return -EINVAL;
}

int bh_metrics_listen(const char *spec, int any_addr, struct bh_metrics_http **out, char *why)
{
	struct sockaddr_storage ss = {};
	struct bh_metrics_http *h;
	socklen_t sl = 0;
	int loopback = 0, one = 1, err;

	*out = NULL;
	err = parse_listen(spec, &ss, &sl, &loopback, why);
	if (err)
		return err;
	if (!loopback && !any_addr) {
		snprintf(why, 256, "--metrics-listen %s: not a loopback address; the metrics name "
			 "every partner, so serve them on 127.0.0.1 or [::1] (or add "
			 "--metrics-listen-any to serve them there anyway)", spec);
		return -EPERM;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (int i = 0; i < MAX_CLIENTS; i++)
		h->c[i].fd = -1;
	h->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(h->fd, (struct sockaddr *)&ss, sl) || listen(h->fd, 16)) {
		err = -errno;
		snprintf(why, 256, "--metrics-listen %s: %s", spec, strerror(errno));
		if (h->fd >= 0)
			close(h->fd);
		free(h);
		return err;
	}
	*out = h;
	return 0;
}

static void client_drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void bh_metrics_http_close(struct bh_metrics_http *h)
{
	if (!h)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		client_drop(&h->c[i]);
	close(h->fd);
	free(h);
}

int bh_metrics_http_fds(const struct bh_metrics_http *h, struct pollfd *p)
{
	int n = 0;

	if (!h)
		return 0;
	p[n++] = (struct pollfd){ .fd = h->fd, .events = POLLIN };
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (h->c[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = h->c[i].fd,
						  .events = h->c[i].out ? POLLOUT : POLLIN };
	return n;
}

static void accept_all(struct bh_metrics_http *h)
{
	for (;;) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

		if (fd < 0)
			return;		/* EAGAIN, or a client gone already */
		for (i = 0; i < MAX_CLIENTS && h->c[i].fd >= 0; i++)
			;
		if (i == MAX_CLIENTS) {
			close(fd);	/* busy: the scraper retries */
			continue;
		}
		h->c[i].fd = fd;
		h->c[i].since_ns = bh_clock_boot_ns();
	}
}

/* The whole answer for a request head, in c->out. */
static void answer(struct client *c, char *(*render)(void *ctx, size_t *len), void *ctx)
{
	static const char ok_hdr[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
				     "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n";
	int get = !strncmp(c->in, "GET /metrics ", 13) || !strncmp(c->in, "GET /metrics?", 13);
	size_t blen = 0;
	char *body = get ? render(ctx, &blen) : NULL;
	int n;

	if (body)
		n = asprintf(&c->out, ok_hdr, blen);
	else
		n = asprintf(&c->out, "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nConnection: "
			     "close\r\nContent-Length: %zu\r\n\r\n%s", get ? "500 Internal Server Error" :
			     "404 Not Found", strlen(get ? "error\n" : "GET /metrics\n"),
			     get ? "error\n" : "GET /metrics\n");
	if (n < 0) {
		c->out = NULL;
		free(body);
		return;
	}
	if (body) {
		char *all = realloc(c->out, (size_t)n + blen);

		if (all)
			memcpy(all + n, body, blen);
		c->out = all;
		n = all ? (int)((size_t)n + blen) : 0;
	}
	free(body);
	c->outlen = (size_t)n;
	c->outoff = 0;
}

/* Read what there is; answer once the head is complete. */
static void client_read(struct client *c, char *(*render)(void *ctx, size_t *len), void *ctx)
{
	ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);

	if (r <= 0) {
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			client_drop(c);
		return;
	}
	c->inlen += (size_t)r;
	c->in[c->inlen] = '\0';
	if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
		answer(c, render, ctx);
	else if (c->inlen == sizeof(c->in) - 1)
		client_drop(c);		/* no head within 4 KiB */
	if (c->fd >= 0 && c->inlen && !c->out && strstr(c->in, "\r\n\r\n"))
		client_drop(c);		/* out of memory answering */
}

static void client_write(struct client *c)
{
	ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);

	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w > 0)
		c->outoff += (size_t)w;
	if (w <= 0 || c->outoff == c->outlen)
		client_drop(c);		/* done (Connection: close), or gone */
}

void bh_metrics_http_serve(struct bh_metrics_http *h, const struct pollfd *p, int n,
			   char *(*render)(void *ctx, size_t *len), void *ctx)
{
	int64_t now = bh_clock_boot_ns();

	if (!h)
		return;
	for (int i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == h->fd) {
			accept_all(h);
			continue;
		}
		for (int k = 0; k < MAX_CLIENTS; k++) {
			struct client *c = &h->c[k];

			if (c->fd != p[i].fd)
				continue;
			if (c->out)
				client_write(c);
			else if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(c, render, ctx);
			break;
		}
	}
	for (int k = 0; k < MAX_CLIENTS; k++)	/* a client that says nothing goes */
		if (h->c[k].fd >= 0 && now - h->c[k].since_ns > CLIENT_TIMEOUT_NS)
			client_drop(&h->c[k]);
}
