// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Local UNIX sockets (bpf/unix.bpf.c): the UNIX object over the pinned maps,
 * its program types set by hand (libbpf 1.1.2 does not know the section
 * names cgroup/connect_unix and cgroup/sendmsg_unix), the warning when this
 * kernel lacks the hooks, and the apply of a policy's UNIX name trie.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bulkhead/unix.h>
#include "log.h"
#include "maps.h"
#include "unix.h"
#include "unix.skel.h"

_Static_assert(sizeof(struct bh_unix_key) == 8 + BH_UNIX_NAME_LEN, "bh_unix_key layout");
_Static_assert(sizeof(struct bh_unix_val) == 8, "bh_unix_val layout");
_Static_assert(sizeof(struct bh_unix_counts) == 8 * (BH_VERDICT__MAX + 1), "bh_unix_counts layout");
_Static_assert(BH_UNIX_NAME_MAX < BH_UNIX_PATH_MAX, "a name and its 0 fit sun_path");

struct bh_unix {
	struct unix_bpf *skel;
	struct bh_maps *maps;
	char why[256];		/* set when the hooks are unavailable */
};

static struct unix_bpf *load_skel(const char *pin_dir, int with_progs, int *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct unix_bpf *s = unix_bpf__open_opts(&oo);

	if (!s) {
		*err = -errno;
		return NULL;
	}
	bpf_program__set_type(s->progs.bh_unix_connect, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
	bpf_program__set_type(s->progs.bh_unix_sendmsg, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
	bpf_program__set_expected_attach_type(s->progs.bh_unix_connect, (enum bpf_attach_type)BH_ATTACH_UNIX_CONNECT);
	bpf_program__set_expected_attach_type(s->progs.bh_unix_sendmsg, (enum bpf_attach_type)BH_ATTACH_UNIX_SENDMSG);
	bpf_program__set_autoload(s->progs.bh_unix_connect, with_progs);
	bpf_program__set_autoload(s->progs.bh_unix_sendmsg, with_progs);
	*err = unix_bpf__load(s);
	if (*err) {
		unix_bpf__destroy(s);
		return NULL;
	}
	return s;
}

int bh_unix_open(struct bh_unix **out, const char *pin_dir, struct bh_maps *maps)
{
	struct bh_unix *u = calloc(1, sizeof(*u));
	int err;

	*out = NULL;
	if (!u)
		return -ENOMEM;
	u->maps = maps;
	u->skel = load_skel(pin_dir, 1, &err);
	if (!u->skel) {
		snprintf(u->why, sizeof(u->why), "local UNIX socket hooks unavailable "
			 "(cgroup/connect_unix, cgroup/sendmsg_unix need kernel 6.7+: %s): "
			 "UNIX sockets are neither judged nor logged", strerror(-err));
		pr_warn("%s\n", u->why);
		u->skel = load_skel(pin_dir, 0, &err);	/* the maps, for status */
	}
	if (u->skel)
		bh_maps_of_unix_skel(maps, u->skel);
	*out = u;
	return 0;
}

void bh_unix_close(struct bh_unix *u)
{
	if (!u)
		return;
	u->maps->unixpol = u->maps->unixev = u->maps->unixcnt = -1;
	unix_bpf__destroy(u->skel);
	free(u);
}

struct bpf_object *bh_unix_object(const struct bh_unix *u)
{
	return u && u->skel && !u->why[0] ? u->skel->obj : NULL;
}

const char *bh_unix_unavailable(const struct bh_unix *u)
{
	return u && u->why[0] ? u->why : NULL;
}

const char *bh_attach_type_str(unsigned int type)
{
	if (type == BH_ATTACH_UNIX_CONNECT)
		return "cgroup_unix_connect";
	if (type == BH_ATTACH_UNIX_SENDMSG)
		return "cgroup_unix_sendmsg";
	return libbpf_bpf_attach_type_str((enum bpf_attach_type)type);
}

static int put_entry(void *arg, const struct bh_unix_key *k, const struct bh_unix_val *v)
{
	return bh_maps_unix_trie_put(*(int *)arg, k, v);
}

int bh_unix_apply(struct bh_unix *u, const struct bh_policy *p, struct bh_errors *errs)
{
	size_t max = bh_unix_max_entries(p);
	int fd, err;

	if (!bh_unix_object(u))
		return 0;
	fd = bh_maps_unix_trie_new(max);
	if (fd < 0) {
		bh_errors_add(errs, "%s: cannot create the UNIX name trie (%zu entries): %s", p->file,
			      max, strerror(-fd));
		return fd;
	}
	err = bh_unix_compile(p, put_entry, &fd);
	if (!err)
		err = bh_maps_unix_trie_swap(u->maps, fd);
	if (err)
		bh_errors_add(errs, "%s: cannot install the UNIX name trie: %s", p->file,
			      strerror(-err));
	close(fd);
	return err;
}
