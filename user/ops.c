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
#include "cutoff.h"
#include "lint.h"
#include "loader.h"
#include "log.h"
#include "sha256.h"
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

	const char *within;

	memset(out, 0, sizeof(*out));
	out->partner = str_of(req, "partner");
	out->sel.gid = str_of(req, "grant");
	out->to = str_of(req, "to");
	within = str_of(req, "within");
	out->sel.dry_run = json_is_true(json_object_get(req, "dry_run"));
	out->sel.yes = json_is_true(json_object_get(req, "yes"));
	if (bh_grants_partner(pol, out->partner, &out->sel.pidx))
		return refuse(e, "unknown partner %s", out->partner ? out->partner : "(none)");
	if (!!out->sel.gid + !!out->to + !!within != 1)
		return refuse(e, "revoke needs exactly one of --grant ID, --to CIDR (that exact "
			      "destination) or --within CIDR (every grant inside it)");
	out->sel.how = out->sel.gid ? BH_REVOKE_ID : out->to ? BH_REVOKE_TO : BH_REVOKE_WITHIN;
	if (within)
		out->to = within;
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
	out->sel.pfx = g.to;
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

	static const char *const how[] = { "with id", "to exactly", "within" };

	if (bh_parse_revoke_req(&o->gs->pol, req, &r, &e))
		return req_refused(&e);
	err = bh_grants_revoke(o->gs, o->l, &r.sel, peer, &removed, &errs);
	if (err == -ESRCH) {
		json_decref(removed);
		return bh_ctl_error("no live grant of %s %s %s", r.partner, how[r.sel.how],
				    r.sel.gid ? r.sel.gid : r.to);
	}
	if (err == -EAGAIN) {
		resp = bh_ctl_error("this revocation takes %zu grant%s%s: confirm with --yes "
				    "(nothing was revoked)", json_array_size(removed),
				    json_array_size(removed) == 1 ? "" : "s",
				    json_array_size(removed) > 1 ? "" : ", from the policy file");
		json_object_set_new(resp, "confirm", json_true());
		json_object_set_new(resp, "matches", removed);
		return resp;
	}
	if (err)
		return failed(&errs, "revoke", err);
	resp = ok_response();
	if (r.sel.how == BH_REVOKE_TO)
		json_object_set_new(resp, "kept_inside", bh_grants_inside(o->gs, &r.sel));
	if (r.sel.dry_run) {
		json_object_set_new(resp, "dry_run", json_true());
		json_object_set_new(resp, "matches", removed);
		return resp;
	}
	o->cutoff_pending = "revoke";
	json_object_set(resp, "revoked", removed);
	bh_ops_event(o, "revoke", peer, r.partner, json_pack("{s:o}", "revoked", removed));
	return resp;
}

int bh_parse_restore_req(const struct bh_policy *pol, const json_t *req,
			 struct bh_restore_req *out, struct bh_req_error *e)
{
	memset(out, 0, sizeof(*out));
	out->partner = str_of(req, "partner");
	out->gid = str_of(req, "grant");
	out->dry_run = json_is_true(json_object_get(req, "dry_run"));
	if (bh_grants_partner(pol, out->partner, &out->pidx))
		return refuse(e, "unknown partner %s", out->partner ? out->partner : "(none)");
	if (!out->gid)
		return refuse(e, "restore needs --grant ID (a revoked policy-file grant, as "
			      "`bulkhead list` shows it)");
	return 0;
}

static json_t *op_restore(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_errors errs = {};
	struct bh_restore_req r;
	json_t *resp, *g;
	int err;

	if (bh_parse_restore_req(&o->gs->pol, req, &r, &e))
		return req_refused(&e);
	err = bh_grants_restore(o->gs, o->l, r.pidx, r.gid, r.dry_run, &g, &errs);
	if (err == -ENOENT)
		return bh_ctl_error("%s has no policy-file grant %s (restore lifts the revocation "
				    "of a grant the policy file has; `bulkhead list %s` shows "
				    "them)", r.partner, r.gid, r.partner);
	if (err == -ESRCH)
		return bh_ctl_error("grant %s of %s is not revoked", r.gid, r.partner);
	if (err)
		return failed(&errs, "restore", err);
	resp = ok_response();
	if (r.dry_run) {
		json_object_set_new(resp, "dry_run", json_true());
		json_object_set_new(resp, "restored", g);
		return resp;
	}
	json_object_set_new(g, "state", json_string("live"));	/* in force again */
	json_object_set(resp, "restored", g);
	bh_ops_event(o, "restore", peer, r.partner, json_pack("{s:o}", "restored", g));
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

/* What applying np would change, with the established flows it would cut. */
static json_t *preview(struct bh_ops *o, struct bh_policy *np)
{
	json_t *d = bh_grants_diff(o->gs, np);
	struct bh_policy eff;
	size_t nshared, i;
	unsigned int cut = 0;
	uint32_t old;
	int err;

	/* the ids the partners will have (a new one: any id no socket has) */
	for (i = 0; i < np->npartners; i++)
		np->partners[i].id = bh_grants_partner(&o->gs->pol, np->partners[i].name, &old) ?
				     0x40000000u + (uint32_t)i : o->gs->pol.partners[old].id;
	err = bh_effective_build(np, &o->gs->jit, &eff, &nshared);
	if (!err) {
		err = bh_cutoff_preview(o->l, &eff, &cut);
		bh_effective_free(&eff, nshared);
	}
	if (err)
		json_object_set_new(d, "flows_cut_error", json_string(strerror(-err)));
	else
		json_object_set_new(d, "flows_cut", json_integer(cut));
	return d;
}

static void set_source(struct bh_ops *o, const char *name, const uint8_t sha[32],
		const struct bh_peer *peer)
{
	char *dup = name == o->policy_path ? NULL : strdup(name);
	int err;

	if (dup) {	/* name may be o->policy_path itself (SIGHUP) */
		free(o->policy_path);
		o->policy_path = dup;
	}
	err = bh_grants_set_source(o->gs, name, sha, peer);
	if (err)
		pr_warn("cannot pin %s as the policy file in force: %s (SIGHUP re-reads it, "
			"a restart reads --policy)\n", name, strerror(-err));
}

json_t *bh_ops_apply(struct bh_ops *o, const char *name, const char *text,
		     const struct bh_peer *peer, const char *action)
{
	struct bh_policy np = {};
	struct bh_errors errs = {}, warns = {};
	char *own = NULL, hex[65];
	int diff = !strcmp(action, "diff");
	uint8_t sha[32];
	json_t *resp, *d = NULL;
	size_t ngrants, len = 0;
	int err = 0;

	if (name[0] != '/') {
		bh_errors_add(&errs, "%s: give the policy file's absolute path (it becomes "
			      "the file SIGHUP re-reads)", name);
		err = -EINVAL;
	}
	if (!err && text)
		len = strlen(text);
	else if (!err && !(err = bh_policy_read(name, &own, &len, &errs)))
		text = own;
	if (!err) {
		bh_sha256(text, len, sha);
		err = bh_policy_parse(name, text, len, &np, &errs);
	}
	if (!err && (diff || peer))
		d = preview(o, &np);
	if (!err && !diff)
		err = bh_grants_apply(o->gs, o->l, &np, &errs);
	if (!err)	/* as `check` says them */
		bh_policy_warnings(diff ? &np : &o->gs->pol, text, &warns);
	free(own);
	if (err) {
		resp = refused(&errs, 1);
		if (!diff)
			bh_ops_event(o, action, peer, NULL,
			     json_pack("{s:s, s:s, s:o, s:s}", "file", name, "result", "error",
				       "errors", errors_json(&errs), "note",
				       "running policy left untouched"));
		bh_policy_free(&np);
		bh_errors_free(&errs);
		json_decref(d);
		return resp;
	}
	if (diff) {
		bh_policy_free(&np);
		resp = ok_response();
		json_object_set_new(resp, "dry_run", json_true());
		json_object_set_new(resp, "file", json_string(name));
		json_object_set_new(resp, "diff", d);
		if (warns.n)
			json_object_set_new(resp, "warnings", errors_json(&warns));
		bh_errors_free(&warns);
		return resp;
	}
	ngrants = o->gs->eff.ngrants;
	o->cutoff_pending = action;
	bh_sha256_hex(sha, hex);
	set_source(o, name, sha, peer);
	bh_ops_event(o, action, peer, NULL,
		     json_pack("{s:s, s:s, s:s, s:i, s:i, s:o*}", "file", name, "sha256", hex,
			       "result", "applied", "partners", (int)o->gs->pol.npartners, "grants",
			       (int)ngrants, "warnings", warns.n ? errors_json(&warns) : NULL));
	resp = ok_response();
	json_object_set_new(resp, "file", json_string(name));
	json_object_set_new(resp, "sha256", json_string(hex));
	if (d)
		json_object_set_new(resp, "diff", d);
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

/* `diff FILE`, `apply --dry-run FILE`: what apply would change; nothing does. */
static json_t *op_diff(struct bh_ops *o, const json_t *req, const struct bh_peer *peer)
{
	struct bh_req_error e = {};
	struct bh_apply_req r;

	if (bh_parse_apply_req(req, &r, &e))
		return req_refused(&e);
	return bh_ops_apply(o, r.file, r.text, peer, "diff");
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
	{ "restore", op_restore },
	{ "list", op_list },
	{ "apply", op_apply },
	{ "diff", op_diff },
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
