// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* cgroup v2 discovery: never hard-code the mount point (design §2). */
#include <errno.h>
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

int bh_cgroup_id(const char *path, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t cgid;
	} h;
	int mount_id;
	struct stat st;

	h.fh.handle_bytes = sizeof(h.cgid);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) == 0 &&
	    h.fh.handle_bytes == sizeof(h.cgid)) {
		memcpy(id, h.fh.f_handle, sizeof(*id));
		return 0;
	}
	/* Fall back to the inode number, which is the kernfs id on 64-bit. */
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = st.st_ino;
	return 0;
}

int bh_path_under(const char *path, const char *ancestor)
{
	size_t n = strlen(ancestor);

	if (n == 0)
		return 1;
	return strncmp(path, ancestor, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
