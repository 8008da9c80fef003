// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pin directory (default /sys/fs/bpf/bulkhead): bpffs, its creation and
 * lock, the pinned links under links/, and removing everything (`down`).
 * The maps pinned in it are maps.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include "log.h"
#include "maps.h"
#include "pindir.h"

#define BPFFS "/sys/fs/bpf"

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int bh_lock_pin_dir(int fd)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		usleep(10000);	/* a `status` probe holds it for microseconds */
	}
	errno = EWOULDBLOCK;
	return -1;
}

int bh_pin_prepare(const char *pin_dir)
{
	struct statfs sfs;
	int err;

	if (statfs(BPFFS, &sfs) || sfs.f_type != BPF_FS_MAGIC) {
		if (mkdir(BPFFS, 0700) && errno != EEXIST)
			return -errno;
		if (mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
			err = -errno;
			pr_warn("cannot mount bpffs at %s: %s\n", BPFFS, strerror(-err));
			return err;
		}
		pr_info("mounted bpffs at %s\n", BPFFS);
	}
	err = mkdir_p(pin_dir, 0700);
	if (!err) {
		char links[PATH_MAX + 16];

		snprintf(links, sizeof(links), "%s/links", pin_dir);
		err = mkdir_p(links, 0700);
	}
	if (err)
		pr_warn("cannot create pin directory %s: %s\n", pin_dir, strerror(-err));
	return err;
}

/* path is a directory holding nothing (but an entry named except), or absent. */
static int empty_dir(const char *path, const char *except)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return errno == ENOENT;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			(except && !strcmp(de->d_name, except));
	closedir(d);
	return empty;
}

int bh_pin_dir_empty(const char *pin_dir)
{
	char links[PATH_MAX + 16];

	snprintf(links, sizeof(links), "%s/links", pin_dir);
	return empty_dir(pin_dir, "links") && empty_dir(links, NULL);
}

void bh_pin_link_path(char *buf, size_t len, const char *pin_dir, uint64_t cgid,
		      const char *prog)
{
	snprintf(buf, len, "%s/links/%llu-%s", pin_dir, (unsigned long long)cgid, prog);
}

void bh_pin_named_link_path(char *buf, size_t len, const char *pin_dir, const char *name,
			    const char *suffix)
{
	snprintf(buf, len, "%s/links/%s%s", pin_dir, name, suffix);
}

void bh_links_each(const char *pin_dir, void (*visit)(void *ctx, const char *name, int fd),
		   void *ctx)
{
	char dir[PATH_MAX + 16], path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/links", pin_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		visit(ctx, de->d_name, fd);
		close(fd);
	}
	closedir(d);
}

static int detach_pinned(const char *path)
{
	struct bpf_link *link = bpf_link__open(path);
	int err = 0;

	if (link) {
		err = bpf_link__detach(link);
		bpf_link__destroy(link);
		if (err == -EOPNOTSUPP)
			err = 0;	/* a tracing link: it goes with its last pin */
	}
	if (unlink(path) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

int bh_pin_detach_links(const char *pin_dir, int (*keep)(void *ctx, uint64_t cgid), void *ctx,
			int *n)
{
	char dir[PATH_MAX + 16], path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	int err = 0;

	*n = 0;
	snprintf(dir, sizeof(dir), "%s/links", pin_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		unsigned long long cgid;

		if (de->d_name[0] == '.')
			continue;
		/* cgroup links are "<cgroup id>-<program>"; the others (the bind
		 * tracepoints, bh_pin_named_link_path) go only with everything */
		if (sscanf(de->d_name, "%llu-", &cgid) != 1 ? keep != NULL : keep && keep(ctx, cgid))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (detach_pinned(path)) {
			pr_warn("cannot detach %s: %s\n", path, strerror(errno));
			if (!err)
				err = -errno;
		}
		(*n)++;
	}
	closedir(d);
	return err;
}

int bh_pin_remove_all(const char *pin_dir, int rm_dir, int *nlinks)
{
	char links[PATH_MAX + 16], path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	int err;

	err = bh_pin_detach_links(pin_dir, NULL, NULL, nlinks);
	snprintf(links, sizeof(links), "%s/links", pin_dir);
	rmdir(links);
	d = opendir(pin_dir);
	if (!d)
		return errno == ENOENT ? err : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (unlink(path) && !err) {
			err = -errno;
			pr_warn("cannot unpin %s: %s\n", path, strerror(errno));
		}
	}
	closedir(d);
	if (rm_dir && rmdir(pin_dir) && !err) {
		err = -errno;
		pr_warn("cannot remove %s: %s\n", pin_dir, strerror(errno));
	}
	return err;
}

/* Denied attempts still in the pinned aggregation windows: no daemon wrote
 * them (a running one flushes them itself at `down`). */
static uint64_t unwritten_denies(const char *pin_dir)
{
	struct bh_maps m;
	uint64_t n;

	if (bh_maps_open_pinned(&m, pin_dir))
		return 0;
	n = bh_maps_flood_pending(&m) + bh_maps_scan_pending(&m);
	bh_maps_close(&m);
	return n;
}

int bh_down(const char *pin_dir)
{
	uint64_t unwritten;
	int fd, err, n = 0;

	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		pr_info("%s: nothing pinned\n", pin_dir);
		return 0;
	}
	if (fd < 0 || bh_lock_pin_dir(fd)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		if (err != -EWOULDBLOCK)
			pr_warn("%s: %s\n", pin_dir, strerror(-err));
		return err;
	}
	/* holding the lock: no daemon can start on the directory meanwhile */
	unwritten = unwritten_denies(pin_dir);
	err = bh_pin_remove_all(pin_dir, 1, &n);
	close(fd);
	if (!err)
		pr_info("detached %d links and removed %s\n", n, pin_dir);
	if (!err && unwritten)
		pr_warn("%llu denied attempts counted after the daemon stopped were in no log "
			"line yet (aggregated denies are written by a running daemon); they are "
			"gone with the maps\n", (unsigned long long)unwritten);
	return err;
}

