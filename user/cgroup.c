// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cgroup v2 discovery (never hard-code the mount point, design §2), cgroup
 * ids, and the subtree walk (see cgroup.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cgroup.h"

int bh_cgroup2_mount(char *buf, size_t len)
{
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	/* id parent major:minor root mountpoint opts [optional...] - fstype src superopts */
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		char mnt[4096], fstype[64];

		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		if ((size_t)snprintf(buf, len, "%s", mnt) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		err = 0;
		break;
	}
	free(line);
	fclose(f);
	return err;
}

/* The kernfs id of the cgroup at dfd/path (path "" with AT_EMPTY_PATH). */
static int cgroup_id_at(int dfd, const char *path, int flags, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t cgid;
	} h;
	int mount_id;
	struct stat st;

	h.fh.handle_bytes = sizeof(h.cgid);
	if (name_to_handle_at(dfd, path, &h.fh, &mount_id, flags) == 0 &&
	    h.fh.handle_bytes == sizeof(h.cgid)) {
		memcpy(id, h.fh.f_handle, sizeof(*id));
		return 0;
	}
	/* Fall back to the inode number, which is the kernfs id on 64-bit. */
	if (fstatat(dfd, path, &st, flags))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = st.st_ino;
	return 0;
}

int bh_cgroup_id(const char *path, uint64_t *id)
{
	return cgroup_id_at(AT_FDCWD, path, 0, id);
}

int bh_cgroup_id_fd(int dfd, uint64_t *id)
{
	return cgroup_id_at(dfd, "", AT_EMPTY_PATH, id);
}

struct walk {
	int max_depth;
	bh_cgroup_visit visit;
	void *ctx;
	char path[PATH_MAX];
};

static int is_dot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/* The cgroup at dfd (the caller's), whose path w->path holds (len bytes). */
static int walk_at(struct walk *w, int dfd, size_t len, int level)
{
	struct bh_cgroup_entry e = { .dfd = dfd, .path = w->path, .level = level };
	struct dirent *de;
	DIR *d;
	int fd, sub, ret;

	if (bh_cgroup_id_fd(dfd, &e.id))
		e.id = 0;
	ret = w->visit(w->ctx, &e);
	if (ret == BH_WALK_SKIP)
		return 0;
	if (ret || (w->max_depth >= 0 && level >= w->max_depth))
		return ret;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (;;) {
		size_t n;

		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = errno ? -errno : 0;
			break;
		}
		if (is_dot(de->d_name) || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		n = strlen(de->d_name);
		if (len + n + 2 > sizeof(w->path))
			continue;	/* deeper than any path the kernel can name */
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue;	/* removed meanwhile, a file, a symlink */
			ret = -errno;
			break;
		}
		snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len ? "/" : "", de->d_name);
		ret = walk_at(w, sub, len + n + (len ? 1 : 0), level + 1);
		w->path[len] = '\0';
		close(sub);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

int bh_cgroup_walk_fd(int rootfd, int max_depth, bh_cgroup_visit visit, void *ctx)
{
	struct walk w = { .max_depth = max_depth, .visit = visit, .ctx = ctx };

	return walk_at(&w, rootfd, 0, 0);
}

int bh_cgroup_walk(const char *root, int max_depth, bh_cgroup_visit visit, void *ctx)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = bh_cgroup_walk_fd(fd, max_depth, visit, ctx);
	close(fd);
	return ret;
}

int bh_path_under(const char *path, const char *ancestor)
{
	size_t n = strlen(ancestor);

	if (n == 0)
		return 1;
	return strncmp(path, ancestor, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
