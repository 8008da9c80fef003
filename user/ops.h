/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Control operations (grant, revoke, restore, list, apply, diff, down, ping): one request,
 * one response (control.h carries them). Each operation first parses and
 * validates its request into a plain value, touching no map (the parse
 * functions below: what a fuzzer calls), then applies that value.
 */
#ifndef BULKHEAD_OPS_H
#define BULKHEAD_OPS_H

#include <stdint.h>
#include <jansson.h>
#include "control.h"
#include "grants.h"
#include "policy.h"

/* Why a request was refused: the reasons in e; listed: the response carries
 * them all ("errors"), as for a policy file, not only the first. */
struct bh_req_error {
	struct bh_errors e;
	int listed;
};
void bh_req_error_free(struct bh_req_error *e);

/* Parsed requests. Strings point into the request object. */
struct bh_grant_req {
	uint32_t pidx;			/* partner index in the applied policy */
	struct bh_grant g;		/* owned: bh_grant_free */
};

struct bh_revoke_req {
	const char *partner;
	const char *to;			/* the CIDR as given, or NULL (sel.gid set) */
	struct bh_revoke_sel sel;
};

struct bh_restore_req {
	const char *partner, *gid;
	uint32_t pidx;
	int dry_run;
};

struct bh_list_req {
	int all;			/* no partner named */
	uint32_t pidx;
};

struct bh_apply_req {
	const char *file, *text;
};

struct bh_down_req {
	const char *pin_dir;		/* may be NULL: refused when applied */
};

/* Request req against the policy file pol in force. 0, or -EINVAL/-ENOMEM
 * with the reasons in err (out is then left empty). */
int bh_parse_grant_req(const struct bh_policy *pol, const json_t *req, struct bh_grant_req *out,
		       struct bh_req_error *err);
int bh_parse_revoke_req(const struct bh_policy *pol, const json_t *req,
			struct bh_revoke_req *out, struct bh_req_error *err);
int bh_parse_restore_req(const struct bh_policy *pol, const json_t *req,
			 struct bh_restore_req *out, struct bh_req_error *err);
int bh_parse_list_req(const struct bh_policy *pol, const json_t *req, struct bh_list_req *out,
		      struct bh_req_error *err);
int bh_parse_apply_req(const json_t *req, struct bh_apply_req *out, struct bh_req_error *err);
int bh_parse_down_req(const json_t *req, struct bh_down_req *out, struct bh_req_error *err);

struct bh_loader;
struct bh_writer;

/* What the operations act on: the daemon's. */
struct bh_ops {
	struct bh_grants *gs;
	struct bh_loader *l;
	struct bh_writer *w;
	const struct bh_clock *clk;	/* the daemon's clock pair (wall-clock expiries) */
	const char *pin_dir;
	const char *cutoff_pending;	/* set when sockets may have lost their grant */
	char *policy_path;		/* the policy file in force (absolute; owned):
					   SIGHUP re-reads it, `apply` replaces it */
	int down;			/* `down` removed the pins: the daemon exits */
};

/* The control socket's handler (bh_ctl_handler): ctx is a struct bh_ops. */
json_t *bh_ops_handle(void *ctx, const json_t *req, const struct bh_peer *peer);

/* apply (request; text set) and reload (SIGHUP; text NULL: read file name):
 * the new file is parsed and compiled in full before any map is touched; on
 * any error the running policy stays. Once applied, name is the policy file
 * in force (o->policy_path and the pinned BH_JIT_SOURCE record, with the
 * text's SHA-256). action names it in the policy event. */
json_t *bh_ops_apply(struct bh_ops *o, const char *name, const char *text,
		     const struct bh_peer *peer, const char *action);

/* A `policy` event (bh_event_policy) in host.jsonl and, for a partner, in its
 * file too. fields is consumed. */
void bh_ops_event(struct bh_ops *o, const char *action, const struct bh_peer *peer,
		  const char *partner, json_t *fields);

#endif
