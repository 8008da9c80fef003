/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `bulkhead trace`, the log reader: one event line parsed from a buffer
 * (bh_tev_parse, no file, no allocation: fuzzable), the sources it reads
 * (plain or gzip files, stdin, rotated siblings chained oldest first) and the
 * k-way merge of those sources by timestamp with bounded memory.
 */
#ifndef BULKHEAD_TRACELOG_H
#define BULKHEAD_TRACELOG_H

#include <stddef.h>
#include <stdint.h>

/* A JSON string as it stands in the line: the bytes between the quotes,
 * escapes not decoded (esc set when there is a backslash). p NULL: absent. */
struct bh_tstr {
	const char *p;
	uint32_t len;
	uint8_t esc;
	uint8_t null;		/* the value was JSON null */
};

enum bh_ttype {
	BH_T_CONNECT, BH_T_SEND, BH_T_PACKET, BH_T_FLOW, BH_T_ALERT,
	BH_T_LOSS, BH_T_POLICY, BH_T_LIFECYCLE, BH_T__MAX
};

/* One parsed line; strings point into the line. Integers absent: -1. */
struct bh_tev {
	const char *line;
	size_t len;		/* without the newline */
	int64_t ts_us;		/* µs since the epoch */
	enum bh_ttype type;
	struct bh_tstr ts, partner, verdict, reason, grant_id, proto, src, dst, comm,
		what, action, phase, event, hook, cgroup, path;
	int64_t v, dport, pid, count, tx_bytes, rx_bytes;
	int aggregated;
};

/* Why a line was not taken (negative from bh_tev_parse). */
enum bh_tbad {
	BH_BAD_JSON,		/* not a JSON object (syntax) */
	BH_BAD_FIELD,		/* v, ts or type missing or of the wrong kind */
	BH_BAD_TYPE,		/* a type this reader does not know */
	BH_BAD_VERSION,		/* v newer than 1 */
	BH_BAD_TORN,		/* the last line of a file had no newline */
	BH_BAD_LONG,		/* longer than BH_TLINE_MAX */
	BH_BAD_GZIP,		/* a gzip stream cut short or damaged */
	BH_BAD__MAX
};

#define BH_TLINE_MAX (1u << 20)

/*
 * Parse one line (no newline) of buf. Returns 0 with *ev filled, or
 * -(1 + enum bh_tbad) for a line to skip; *err_col (may be NULL) gets the
 * 1-based byte column of a syntax error. Never reads past buf + len.
 */
int bh_tev_parse(const char *buf, size_t len, struct bh_tev *ev, size_t *err_col);

/* RFC 3339 text to µs since the epoch: 0, or -EINVAL. */
int bh_ts_parse(const char *s, size_t len, int64_t *us);

/* Decode a JSON string's escapes into out (NUL-terminated, cut to outlen - 1,
 * made valid UTF-8 with bh_sanitize). Returns out ("" when absent). */
const char *bh_tstr_get(const struct bh_tstr *s, char *out, size_t outlen);
/* s equals the plain text t (escapes decoded). */
int bh_tstr_eq(const struct bh_tstr *s, const char *t);

const char *bh_ttype_name(enum bh_ttype t);
const char *bh_tbad_name(enum bh_tbad b);

/* ---- sources and the merge ---- */

/* Skipped lines: per kind, and where the first few were. */
#define BH_TBAD_KEEP 8
struct bh_tbad_stats {
	uint64_t n[BH_BAD__MAX];
	uint64_t total;
	size_t nkept;
	struct {
		char where[288];	/* file:line */
		enum bh_tbad kind;
	} kept[BH_TBAD_KEEP];
};

struct bh_tmerge;

/* Options of the merge. */
struct bh_tmerge_opts {
	int follow;		/* at the end, wait for more (and follow rotations) */
	int dedupe_host;	/* host.jsonl copies of partner-file lines are skipped */
	volatile int *stop;	/* follow ends when *stop becomes non-zero */
};

int bh_tmerge_new(struct bh_tmerge **m, const struct bh_tmerge_opts *o);
/*
 * Add a log directory (every *.jsonl with its rotated *.jsonl.N[.gz]
 * siblings; partners, when non-empty, limits it to those partners' files and
 * host.jsonl) or one file ("-": stdin). 0 or -errno (said on stderr).
 */
int bh_tmerge_add_dir(struct bh_tmerge *m, const char *dir, char **partners, int npartners);
int bh_tmerge_add_file(struct bh_tmerge *m, const char *path);
/* Files that could be opened. */
size_t bh_tmerge_nopen(const struct bh_tmerge *m);
/* Read the first line of every source (opening its files): the number of
 * files opened so far, 0 when none could be read. */
size_t bh_tmerge_open_all(struct bh_tmerge *m);
/* The next event in timestamp order: 1 with *ev (valid until the next call),
 * 0 at the end. */
int bh_tmerge_next(struct bh_tmerge *m, struct bh_tev *ev);
/* Total lines read, and the skipped ones. */
uint64_t bh_tmerge_lines(const struct bh_tmerge *m);
const struct bh_tbad_stats *bh_tmerge_bad(const struct bh_tmerge *m);
void bh_tmerge_free(struct bh_tmerge *m);

/* Count a bad line (also used by the unit test). */
void bh_tbad_add(struct bh_tbad_stats *s, enum bh_tbad kind, const char *file, uint64_t line);

#endif
