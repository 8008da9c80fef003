// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Who holds a flock(2) lock: the one reader of /proc/locks (lock.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "lock.h"

int bh_flock_holder(int fd)
{
	char line[256], kind[16], mode[16];
	unsigned int maj, min;
	unsigned long ino;
	struct stat st;
	int pid, found = 0;
	FILE *f;

	if (fstat(fd, &st))
		return 0;
	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 10423 00:28:17948864 0 EOF"; a waiter's
	 * line has "->" where FLOCK is */
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%lu", kind, mode, &pid, &maj,
			       &min, &ino) == 6 && !strcmp(kind, "FLOCK") &&
			!strcmp(mode, "WRITE") && maj == major(st.st_dev) &&
			min == minor(st.st_dev) && ino == (unsigned long)st.st_ino && pid > 0;
	fclose(f);
	return found ? pid : 0;
}
