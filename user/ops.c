// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Control operations: the {op, handler} table, each operation's request
 * parser (to a plain value, no map touched) and its application (grants.c
 * for the grant state, the loader for `down`), with its response and its
 * `policy` event.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "events.h"
#include "lint.h"
#include "loader.h"
#include "ops.h"
#include "text.h"

void bh_req_error_free(struct bh_req_error *e)
{
	bh_errors_free(&e->e);
	e->listed = 0;
}

static int refuse(struct bh_req_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One reason, the response's "error". */
static int refuse(struct bh_req_error *e, const char *fmt, ...)
{
	char msg[512], out[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a long name cut by vsnprintf is cut back to a whole character */
	bh_errors_add(&e->e, "%s", bh_sanitize((const uint8_t *)msg, sizeof(msg), out, sizeof(out)));
	e->listed = 0;
	return -EINVAL;
}

static const char *str_of(const json_t *req, const char *key)
{
	return json_string_value(json_object_get(req, key));
}

/* One grant object (the keys of a policy grant) for partner pidx, validated
 * as in a policy file, messages prefixed by name. bh_grant_parse reads text
 * (it reports line and column), so the object is written out here, once. */
static int parse_grant_obj(const struct bh_policy *pol, uint32_t pidx, const char *name,
			   const json_t *obj, struct bh_grant *g, struct bh_req_error *e)
{
	char *text = json_dumps(obj, JSON_COMPACT);
	int err = text ? bh_grant_parse(pol, pidx, name, text, g, &e->e) : -ENOMEM;

	free(text);
	e->listed = err != 0;
	return err;
}

int bh_parse_grant_req(const struct bh_policy *pol, const json_t *req, struct bh_grant_req *out,
		       struct bh_req_error *e)
{
	const char *partner = str_of(req, "partner");
	const json_t *spec = json_object_get(req, "grant");
	int err;

	memset(out, 0, sizeof(*out));
	if (bh_grants_partner(pol, partner, &out->pidx))
		return refuse(e, "unknown partner %s: grants are for partners of the policy",
			      partner ? partner : "(none)");
	if (!json_is_object(spec))
		return refuse(e, "bad request: \"grant\" must be an object");
	err = parse_grant_obj(pol, out->pidx, "grant", spec, &out->g, e);
	if (err)
		return err;
	if (out->g.purpose && strlen(out->g.purpose) >= sizeof(((struct bh_jit *)0)->purpose)) {
		size_t n = strlen(out->g.purpose);

		bh_grant_free(&out->g);
		return refuse(e, "--purpose is %zu bytes: a just-in-time grant's purpose holds "
			      "at most %zu (it is kept whole or refused, never cut)", n,
			      sizeof(((struct bh_jit *)0)->purpose) - 1);
	}
	if (!out->g.ttl_ns && !out->g.expires_unix_ns) {
		bh_grant_free(&out->g);
		return refuse(e, "a just-in-time grant needs --ttl or --expires");
	}
	return 0;
}

int bh_parse_revoke_req(const struct bh_policy *pol, const json_t *req,
			struct bh_revoke_req *out, struct bh_req_error *e)
{
	struct bh_grant g;
	json_t *spec;
	int err;

	memset(out, 0, sizeof(*out));
	out->partner = str_of(req, "partner");
	out->sel.gid = str_of(req, "grant");
	out->to = str_of(req, "to");
	if (bh_grants_partner(pol, out->partner, &out->sel.pidx))
		return refuse(e, "unknown partner %s", out->partner ? out->partner : "(none)");
	if (!out->sel.gid == !out->to)
		return refuse(e, "revoke needs exactly one of --grant ID or --to CIDR");
	if (!out->to)
		return 0;
	/* the grant parser for the CIDR: the same errors as in a policy file */
	spec = json_pack("{s:s}", "to", out->to);
	err = spec ? parse_grant_obj(pol, out->sel.pidx, "--to", spec, &g, e) : -ENOMEM;
	json_decref(spec);
	if (err) {
		e->listed = 1;
		return err;
	}
	out->sel.within = g.to;
	bh_grant_free(&g);
	return 0;
}

int bh_parse_list_req(const struct bh_policy *pol, const json_t *req, struct bh_list_req *out,
		      struct bh_req_error *e)
{
	const char *partner = str_of(req, "partner");

	memset(out, 0, sizeof(*out));
	out->all = !partner;
	if (partner && bh_grants_partner(pol, partner, &out->pidx))
		return refuse(e, "unknown partner %s", partner);
	return 0;
}

int bh_parse_apply_req(const json_t *req, struct bh_apply_req *out, struct bh_req_error *e)
{
	out->file = str_of(req, "file");
	out->text = str_of(req, "text");
	if (!out->file || !out->text)
		return refuse(e, "bad request: apply needs \"file\" and \"text\"");
	return 0;
}

int bh_parse_down_req(const json_t *req, struct bh_down_req *out, struct bh_req_error *e)
{
	(void)e;
	out->pin_dir = str_of(req, "pin_dir");
	return 0;
}

/* ---- responses ---- */

static json_t *ok_response(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *errors_json(const struct bh_errors *e)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < e->n; i++)
		json_array_append_new(a, json_string(e->msg[i]));
	return a;
}

/* {"ok": false, "error": the first reason[, "errors": all of them]}. */
static json_t *refused(const struct bh_errors *errs, int listed)
{
	json_t *r = bh_ctl_error("%s", errs->n ? errs->msg[0] : "apply failed");

	if (listed)
		json_object_set_new(r, "errors", errors_json(errs));
	return r;
}

static json_t *req_refused(struct bh_req_error *e)
{
	json_t *r = refused(&e->e, e->listed);

	bh_req_error_free(e);
	return r;
}

/* A failed change: its reasons, or what failed. */
static json_t *failed(struct bh_errors *errs, const char *what, int err)
{
	json_t *r = errs->n ? refused(errs, 1) : bh_ctl_error("%s failed: %s", what,
							       strerror(-err));

	bh_errors_free(errs);
	return r;
}

void bh_ops_event(struct bh_ops *o, const char *action, const struct bh_peer *peer,
		  const char *partner, json_t *fields)
{
	json_t *ev = bh_event_policy(action, peer, partner, bh_grants_org_of(o->gs, partner),
				     fields);

	if (partner)
		bh_writer_emit_both(o->w, partner, ev);
	else
		bh_writer_emit(o->w, NULL, ev);
}

/* ---- the operations ---- */

static json_t *op_grant(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_errors errs = {}, warns = {};
	struct bh_grant_req r;
	struct bh_clock clk;
	json_t *resp, *g;
	uint32_t seq;
	int err;

	if (bh_parse_grant_req(&o->gs->pol, req, &r, &e))
		return req_refused(&e);
	bh_clock_now(&clk);
	err = bh_jit_lint(o->gs, r.pidx, &r.g, &clk, &e.e, &warns);	/* tier, linter */
	err = err ? err : bh_grants_new_seq(o->gs, &seq);
	if (err) {
		bh_grant_free(&r.g);
		bh_errors_free(&warns);
		e.listed = 1;
		return e.e.n ? req_refused(&e) :
		       bh_ctl_error("grant failed: cannot allocate a grant id: %s", strerror(-err));
	}
	err = bh_grants_add(o->gs, o->l, seq, r.pidx, &r.g, peer, &clk, &g, &errs);
	bh_grant_free(&r.g);
	if (err) {
		bh_errors_free(&warns);
		return failed(&errs, "grant", err);
	}
	resp = ok_response();
	if (warns.n)
		json_object_set_new(resp, "warnings", errors_json(&warns));
	if (g) {
		json_object_set(resp, "grant", g);
		bh_ops_event(o, "grant", peer, o->gs->pol.partners[r.pidx].name,
			     json_pack("{s:o, s:o*}", "grant", g, "warnings",
				       warns.n ? errors_json(&warns) : NULL));
	}
	bh_errors_free(&warns);
	return resp;
}

static json_t *op_revoke(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_errors errs = {};
	struct bh_revoke_req r;
	json_t *resp, *removed;
	int err;

	if (bh_parse_revoke_req(&o->gs->pol, req, &r, &e))
		return req_refused(&e);
	err = bh_grants_revoke(o->gs, o->l, &r.sel, peer, &removed, &errs);
	if (err == -ESRCH)
		return bh_ctl_error("no live grant of %s %s %s", r.partner,
				    r.sel.gid ? "with id" : "within", r.sel.gid ? r.sel.gid : r.to);
	if (err)
		return failed(&errs, "revoke", err);
	o->cutoff_pending = "revoke";
	resp = ok_response();
	json_object_set(resp, "revoked", removed);
	bh_ops_event(o, "revoke", peer, r.partner, json_pack("{s:o}", "revoked", removed));
	return resp;
}

static json_t *op_list(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_list_req r;
	struct bh_clock now;
	json_t *resp;

	(void)peer;
	if (bh_parse_list_req(&o->gs->pol, req, &r, &e))
		return req_refused(&e);
	bh_clock_now(&now);
	resp = ok_response();
	json_object_set_new(resp, "grants", bh_grants_list(o->gs, r.all, r.pidx, o->clk, &now));
	return resp;
}

json_t *bh_ops_apply(struct bh_ops *o, const char *name, const char *text,
		     const struct bh_peer *peer, const char *action)
{
	struct bh_policy np = {};
	struct bh_errors errs = {}, warns = {};
	json_t *resp;
	size_t ngrants;
	int err;

	err = text ? bh_policy_parse(name, text, strlen(text), &np, &errs) :
		     bh_policy_load(name, &np, &errs);
	if (!err)
		err = bh_grants_apply(o->gs, o->l, &np, &errs);
	if (err) {
		resp = refused(&errs, 1);
		bh_ops_event(o, action, peer, NULL,
			     json_pack("{s:s, s:s, s:o, s:s}", "file", name, "result", "error",
				       "errors", errors_json(&errs), "note",
				       "running policy left untouched"));
		bh_policy_free(&np);
		bh_errors_free(&errs);
		return resp;
	}
	ngrants = o->gs->eff.ngrants;
	o->cutoff_pending = action;
	bh_policy_warnings(&o->gs->pol, text, &warns);	/* as `check` says them */
	bh_ops_event(o, action, peer, NULL,
		     json_pack("{s:s, s:s, s:i, s:i, s:o*}", "file", name, "result", "applied",
			       "partners", (int)o->gs->pol.npartners, "grants", (int)ngrants,
			       "warnings", warns.n ? errors_json(&warns) : NULL));
	resp = ok_response();
	json_object_set_new(resp, "partners", json_integer(o->gs->pol.npartners));
	json_object_set_new(resp, "grants", json_integer(ngrants));
	if (warns.n)
		json_object_set_new(resp, "warnings", errors_json(&warns));
	bh_errors_free(&warns);
	return resp;
}

static json_t *op_apply(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_apply_req r;

	if (bh_parse_apply_req(req, &r, &e))
		return req_refused(&e);
	return bh_ops_apply(o, r.file, r.text, peer, "apply");
}

/* `bulkhead down` while this daemon runs: the daemon holds the pin directory
 * lock, so it removes the enforcement itself, answers, and exits (a daemon
 * left running with nothing enforced would go on listing grants that are
 * gone). Only for its own pin directory. */
static json_t *op_down(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_down_req r;
	struct stat want, mine;
	json_t *resp;
	int err, n = 0;

	if (bh_parse_down_req(req, &r, &e))
		return req_refused(&e);
	if (!r.pin_dir || stat(r.pin_dir, &want) || stat(o->pin_dir, &mine) ||
	    want.st_dev != mine.st_dev || want.st_ino != mine.st_ino)
		return bh_ctl_error("this daemon enforces %s, not %s", o->pin_dir,
				    r.pin_dir ? r.pin_dir : "(no pin_dir in the request)");
	err = bh_loader_unpin(o->l, &n);
	o->down = 1;	/* exit either way: what is left is for a local `down` */
	bh_ops_event(o, "down", peer, NULL,
		     json_pack("{s:s, s:i, s:s}", "pin_dir", o->pin_dir, "links_detached", n,
			       "result", err ? strerror(-err) : "ok"));
	if (err)
		return bh_ctl_error("down: %s: %s (the daemon exits; run `bulkhead down` again)",
				    o->pin_dir, strerror(-err));
	resp = ok_response();
	json_object_set_new(resp, "pin_dir", json_string(o->pin_dir));
	json_object_set_new(resp, "links_detached", json_integer(n));
	json_object_set_new(resp, "daemon_pid", json_integer(getpid()));
	return resp;
}

static json_t *op_ping(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	(void)o;
	(void)req;
	(void)peer;
	return ok_response();
}

static const struct {
	const char *op;
	json_t *(*handler)(struct bh_ops *o, const json_t *req, const struct bh_peer *peer);
} op_table[] = {
	{ "grant", op_grant },
	{ "revoke", op_revoke },
	{ "list", op_list },
	{ "apply", op_apply },
	{ "down", op_down },
	{ "ping", op_ping },
};

json_t *bh_ops_handle(void *ctx, const json_t *req, const struct bh_peer *peer)
{
	const char *op = str_of(req, "op");
	size_t i;

	if (!op)
		return bh_ctl_error("bad request: no \"op\"");
	for (i = 0; i < sizeof(op_table) / sizeof(op_table[0]); i++)
		if (!strcmp(op, op_table[i].op))
			return op_table[i].handler(ctx, req, peer);
	return bh_ctl_error("unknown op %s", op);
}
