// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The scan rule (scan.h): per partner, a window of W from its first denial;
 * in it, per host the union of the kernel's port sets (distinct ports), and
 * per (proto, port) the hosts whose set gained that port (distinct hosts).
 * A host or port that reaches its threshold is reported once per window,
 * when it has been quiet for a flush (so the count is the scan's) or 10 s
 * after it crossed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bulkhead/bulkhead.h>
#include "scan.h"

#define BH_SCAN_HOSTS 4096		/* hosts tracked per partner window */
#define BH_SCAN_LATE_NS (10ll * 1000000000ll)

struct host {
	uint8_t proto, addr[16];
	uint32_t distinct;
	uint64_t attempts;
	int64_t crossed_ns;		/* 0: below the threshold, -1: reported */
	int touched;			/* in this flush */
	uint64_t ports[BH_SCAN_PORT_WORDS];
};

struct port {
	uint32_t hosts;
	int64_t crossed_ns;
	int touched;
};

struct pscan {
	uint32_t partner;
	int64_t start_ns;		/* of the window; 0: none open */
	struct bh_scan_limits lim;
	struct host **h;
	size_t nh;
	struct port *port[2];		/* tcp, udp: 65,536 each, made on first use */
	uint32_t *crossed;		/* (proto << 16 | port) of ports that crossed */
	size_t ncrossed, capcrossed;
};

struct bh_scan {
	struct bh_scan_ops ops;
	struct pscan *p[BH_MAX_PARTNERS];
};

struct bh_scan *bh_scan_new(const struct bh_scan_ops *ops)
{
	struct bh_scan *s = calloc(1, sizeof(*s));

	if (s)
		s->ops = *ops;
	return s;
}

static void window_end(struct pscan *p)
{
	for (size_t i = 0; i < p->nh; i++)
		free(p->h[i]);
	free(p->h);
	p->h = NULL;
	p->nh = 0;
	for (int i = 0; i < 2; i++) {
		free(p->port[i]);
		p->port[i] = NULL;
	}
	free(p->crossed);
	p->crossed = NULL;
	p->ncrossed = p->capcrossed = 0;
	p->start_ns = 0;
}

void bh_scan_free(struct bh_scan *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < BH_MAX_PARTNERS; i++)
		if (s->p[i]) {
			window_end(s->p[i]);
			free(s->p[i]);
		}
	free(s);
}

static struct host *host_of(struct pscan *p, const struct bh_scan_key *k)
{
	struct host *h, **nv;

	for (size_t i = 0; i < p->nh; i++)
		if (p->h[i]->proto == k->proto && !memcmp(p->h[i]->addr, k->daddr, 16))
			return p->h[i];
	if (p->nh == BH_SCAN_HOSTS)
		return NULL;
	nv = realloc(p->h, (p->nh + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	p->h = nv;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->proto = k->proto;
	memcpy(h->addr, k->daddr, 16);
	p->h[p->nh++] = h;
	return h;
}

static void port_crossed(struct pscan *p, int pi, uint16_t port)
{
	uint32_t *nv;

	if (p->ncrossed == p->capcrossed) {
		size_t cap = p->capcrossed ? 2 * p->capcrossed : 16;

		nv = realloc(p->crossed, cap * sizeof(*nv));
		if (!nv)
			return;
		p->crossed = nv;
		p->capcrossed = cap;
	}
	p->crossed[p->ncrossed++] = (uint32_t)pi << 16 | port;
}

/* The host's new ports, each one more host on that port. */
static void add_ports(struct pscan *p, struct host *h, const __u64 *ports, int64_t now)
{
	int pi = h->proto == BH_PROTO_UDP;
	struct port *tab;

	if (h->proto != BH_PROTO_TCP && h->proto != BH_PROTO_UDP)
		return;
	if (!p->port[pi])
		p->port[pi] = calloc(65536, sizeof(struct port));
	tab = p->port[pi];
	for (size_t w = 0; w < BH_SCAN_PORT_WORDS; w++) {
		uint64_t nb = ports[w] & ~h->ports[w];

		h->ports[w] |= nb;
		h->distinct += (uint32_t)__builtin_popcountll(nb);
		while (tab && nb) {
			uint16_t port = (uint16_t)(w * 64 + __builtin_ctzll(nb));
			struct port *e = &tab[port];

			nb &= nb - 1;
			e->touched = 1;
			if (++e->hosts == p->lim.hosts && !e->crossed_ns) {
				e->crossed_ns = now;
				port_crossed(p, pi, port);
			}
		}
	}
}

static int64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

void bh_scan_add(struct bh_scan *s, const struct bh_scan_key *k, const struct bh_scan_val *v)
{
	struct pscan *p;
	struct host *h;
	int64_t now = boot_ns();

	if (k->partner >= BH_MAX_PARTNERS)
		return;
	p = s->p[k->partner];
	if (!p) {
		p = s->p[k->partner] = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->partner = k->partner;
	}
	if (!p->start_ns) {
		p->start_ns = (int64_t)(k->window * BH_FLOOD_WINDOW_NS);
		s->ops.limits(s->ops.ctx, k->partner, &p->lim);
	}
	h = host_of(p, k);
	if (!h)
		return;
	h->attempts += v->attempts;
	h->touched = 1;
	add_ports(p, h, v->ports, now);
	if (h->distinct >= p->lim.ports && !h->crossed_ns)
		h->crossed_ns = now;
}

static void found_host(struct bh_scan *s, struct pscan *p, struct host *h)
{
	struct bh_scan_found f = {
		.partner = p->partner, .proto = h->proto, .by_host = 1,
		.distinct = h->distinct, .attempts = h->attempts, .window_ns = p->lim.window_ns,
	};
	size_t w;

	memcpy(f.dst, h->addr, 16);
	for (w = 0; w < BH_SCAN_PORT_WORDS && !h->ports[w]; w++)
		;
	if (w < BH_SCAN_PORT_WORDS)
		f.first_port = (uint16_t)(w * 64 + __builtin_ctzll(h->ports[w]));
	for (w = BH_SCAN_PORT_WORDS; w > 0 && !h->ports[w - 1]; w--)
		;
	if (w > 0)
		f.last_port = (uint16_t)((w - 1) * 64 + 63 - __builtin_clzll(h->ports[w - 1]));
	h->crossed_ns = -1;
	s->ops.found(s->ops.ctx, &f);
}

static void found_port(struct bh_scan *s, struct pscan *p, int pi, uint16_t port, struct port *e)
{
	struct bh_scan_found f = {
		.partner = p->partner, .proto = pi ? BH_PROTO_UDP : BH_PROTO_TCP, .dport = port,
		.distinct = e->hosts, .window_ns = p->lim.window_ns,
	};

	e->crossed_ns = -1;
	s->ops.found(s->ops.ctx, &f);
}

/* Crossed, and quiet since the last flush or crossed long enough ago. */
static int due(int64_t crossed_ns, int touched, int64_t now)
{
	return crossed_ns > 0 && (!touched || now - crossed_ns >= BH_SCAN_LATE_NS);
}

/* Everything that crossed and is not reported yet. */
static void report_pending(struct bh_scan *s, struct pscan *p)
{
	for (size_t i = 0; i < p->nh; i++)
		if (p->h[i]->crossed_ns > 0)
			found_host(s, p, p->h[i]);
	for (size_t i = 0; i < p->ncrossed; i++) {
		int pi = p->crossed[i] >> 16;
		struct port *e = &p->port[pi][p->crossed[i] & 0xffff];

		if (e->crossed_ns > 0)
			found_port(s, p, pi, p->crossed[i] & 0xffff, e);
	}
}

static void partner_tick(struct bh_scan *s, struct pscan *p, int64_t now)
{
	for (size_t i = 0; i < p->nh; i++) {
		struct host *h = p->h[i];

		if (due(h->crossed_ns, h->touched, now))
			found_host(s, p, h);
		h->touched = 0;
	}
	for (size_t i = 0; i < p->ncrossed; i++) {
		int pi = p->crossed[i] >> 16;
		uint16_t port = p->crossed[i] & 0xffff;
		struct port *e = &p->port[pi][port];

		if (due(e->crossed_ns, e->touched, now))
			found_port(s, p, pi, port, e);
		e->touched = 0;
	}
	/* the window ends W after it opened, once nothing is pending */
	if (now - p->start_ns >= p->lim.window_ns) {
		report_pending(s, p);
		window_end(p);
	}
}

void bh_scan_finish(struct bh_scan *s)
{
	for (size_t i = 0; i < BH_MAX_PARTNERS; i++)
		if (s->p[i] && s->p[i]->start_ns)
			report_pending(s, s->p[i]);
}

void bh_scan_tick(struct bh_scan *s)
{
	int64_t now = boot_ns();

	for (size_t i = 0; i < BH_MAX_PARTNERS; i++)
		if (s->p[i] && s->p[i]->start_ns)
			partner_tick(s, s->p[i], now);
}
