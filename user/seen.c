// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The seen-keys state files (seen.h): a hash of text keys with their last
 * time, loaded at start, bounded, written atomically (temporary file, fsync,
 * rename) when it changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "events.h"
#include "log.h"
#include "seen.h"

#define BUCKETS 4096

struct entry {
	char *key;
	int64_t t;
	struct entry *next;
};

struct bh_seen {
	char path[PATH_MAX];
	struct entry *b[BUCKETS];
	size_t n, max;
	int dirty;
};

static unsigned int hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % BUCKETS;
}

static struct entry *find(const struct bh_seen *s, const char *key)
{
	struct entry *e;

	for (e = s->b[hash(key)]; e; e = e->next)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

int64_t bh_seen_get(const struct bh_seen *s, const char *key)
{
	const struct entry *e = s ? find(s, key) : NULL;

	return e ? e->t : 0;
}

/* Forget the oldest key. */
static void evict(struct bh_seen *s)
{
	struct entry **old = NULL, **pp;

	for (size_t i = 0; i < BUCKETS; i++)
		for (pp = &s->b[i]; *pp; pp = &(*pp)->next)
			if (!old || (*pp)->t < (*old)->t)
				old = pp;
	if (old) {
		struct entry *e = *old;

		*old = e->next;
		free(e->key);
		free(e);
		s->n--;
	}
}

int bh_seen_put(struct bh_seen *s, const char *key, int64_t t)
{
	struct entry *e = find(s, key);
	unsigned int h;

	if (e) {
		s->dirty |= e->t != t;
		e->t = t;
		return 0;
	}
	if (s->n >= s->max)
		evict(s);
	e = malloc(sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	e->t = t;
	h = hash(key);
	e->next = s->b[h];
	s->b[h] = e;
	s->n++;
	s->dirty = 1;
	return 0;
}

/* Lines that are not "<digits>\t<key>" are skipped (a torn file). */
static int load(struct bh_seen *s, int64_t horizon_s)
{
	FILE *f = fopen(s->path, "re");
	char line[1024];
	int64_t cut = (int64_t)time(NULL) - horizon_s;
	int err = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (!err && fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), *end, *nl = strchr(line, '\n');
		long long t;

		if (!tab || !nl)
			continue;
		*nl = '\0';
		errno = 0;
		t = strtoll(line, &end, 10);
		if (errno || end != tab || t <= 0 || (horizon_s > 0 && t < cut) || !tab[1])
			continue;
		err = bh_seen_put(s, tab + 1, t);
	}
	fclose(f);
	s->dirty = 0;
	return err;
}

int bh_seen_open(struct bh_seen **sp, const char *dir, const char *name, size_t max,
		 int64_t horizon_s)
{
	struct bh_seen *s = calloc(1, sizeof(*s));
	int err;

	*sp = NULL;
	if (!s)
		return -ENOMEM;
	s->max = max ? max : 1;
	err = bh_make_dir(dir);
	if (!err && snprintf(s->path, sizeof(s->path), "%s/%s", dir, name) >= (int)sizeof(s->path))
		err = -ENAMETOOLONG;
	if (!err)
		err = load(s, horizon_s);
	if (err) {
		s->dirty = 0;
		bh_seen_close(s);
		return err;
	}
	*sp = s;
	return 0;
}

int bh_seen_save(struct bh_seen *s)
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	int err = 0;

	if (!s || !s->dirty)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.new", s->path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct entry *e = s->b[i]; e; e = e->next)
			fprintf(f, "%lld\t%s\n", (long long)e->t, e->key);
	if (fflush(f) || fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, s->path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	s->dirty = 0;
	return 0;
}

void bh_seen_close(struct bh_seen *s)
{
	int err;

	if (!s)
		return;
	err = bh_seen_save(s);
	if (err)
		pr_warn("state file %s: %s\n", s->path, strerror(-err));
	for (size_t i = 0; i < BUCKETS; i++)
		while (s->b[i]) {
			struct entry *e = s->b[i];

			s->b[i] = e->next;
			free(e->key);
			free(e);
		}
	free(s);
}
