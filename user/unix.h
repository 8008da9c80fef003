/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Local UNIX sockets (bpf/unix.bpf.c): opens the UNIX object over the pinned
 * identity map, says once when this kernel lacks its hooks, and installs a
 * policy's UNIX name trie. Its programs are attached by the loader at the
 * datapath's attach points (bh_unix_object).
 */
#ifndef BULKHEAD_UNIX_USER_H
#define BULKHEAD_UNIX_USER_H

#include "policy.h"

struct bh_unix;
struct bh_maps;
struct bpf_object;

/* Open and load the UNIX object, reusing maps pinned in pin_dir (bh_cgroups
 * must be pinned already), and add its maps to maps. When the kernel cannot
 * load its programs (no cgroup/connect_unix: before 6.7), *u is still made,
 * without them: bh_unix_object is NULL and bh_unix_unavailable says why
 * (logged once, here). 0 or -ENOMEM. */
int bh_unix_open(struct bh_unix **u, const char *pin_dir, struct bh_maps *maps);
/* NULL is ignored. Pinned state stays. */
void bh_unix_close(struct bh_unix *u);
/* The loaded object whose programs go to every attach point, or NULL. */
struct bpf_object *bh_unix_object(const struct bh_unix *u);
/* NULL when the hooks are loaded, else a sentence saying what is missing. */
const char *bh_unix_unavailable(const struct bh_unix *u);
/* The name of a cgroup attach type as libbpf writes them, the UNIX hooks'
 * included ("cgroup_unix_connect", "cgroup_unix_sendmsg"), which libbpf
 * 1.1.2 does not know; NULL for an unknown one. */
const char *bh_attach_type_str(unsigned int type);
/* Compile p's UNIX grants, unix_mode and never names into a new trie and
 * install it whole (atomic for the UNIX hooks). Without the hooks: 0. 0 or
 * -errno with the reason in errs. */
int bh_unix_apply(struct bh_unix *u, const struct bh_policy *p, struct bh_errors *errs);

#endif
