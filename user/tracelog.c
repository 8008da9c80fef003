// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `bulkhead trace`, the log reader: the event line parser (one buffer in, a
 * struct bh_tev of slices into it out), the sources (plain and gzip files,
 * stdin, rotated siblings chained oldest first, followed across a rotation)
 * and their k-way merge by timestamp, one line held per source.
 *
 * Why not jansson per line: the summary must read 500,000 lines a second on
 * one core, and building a json_t tree per line costs several times that. The
 * scanner below checks the JSON grammar of the whole line (strings, escapes,
 * numbers, literals, nesting) and keeps only the top-level members trace
 * uses; the few lines that need their nested values (policy lines) are
 * parsed again with jansson by their consumer (tracesum.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "events.h"
#include "tracelog.h"

#define MAX_DEPTH 64

/* ------------------------------------------------------------ the scanner */

struct scan {
	const char *p, *end, *start;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes that end a run of plain string content: '"', '\\', controls. */
static const uint8_t str_stop[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/* A string at s->p (the opening quote): its content in *out. 0 or -1. */
static int scan_string(struct scan *s, struct bh_tstr *out)
{
	const char *q = ++s->p;

	out->esc = 0;
	out->null = 0;
	for (;;) {
		const char *r = q;

		while (r < s->end && !str_stop[(unsigned char)*r])
			r++;
		if (r >= s->end || (unsigned char)*r < 0x20)
			return -1;
		if (*r == '"') {
			out->p = s->p;
			out->len = (uint32_t)(r - s->p);
			s->p = r + 1;
			return 0;
		}
		out->esc = 1;
		if (r + 1 >= s->end)
			return -1;
		if (r[1] == 'u') {
			if (r + 6 > s->end || !is_hex(r[2]) || !is_hex(r[3]) || !is_hex(r[4]) ||
			    !is_hex(r[5]))
				return -1;
			q = r + 6;
		} else if (strchr("\"\\/bfnrt", r[1]) && r[1]) {
			q = r + 2;
		} else {
			return -1;
		}
	}
}

/* A JSON number; *iv its value when it is an integer that fits (else *isint 0). */
static int scan_number(struct scan *s, int64_t *iv, int *isint)
{
	const char *p = s->p;
	int neg = 0, digits = 0;
	uint64_t v = 0;

	*isint = 1;
	if (p < s->end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= s->end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0') {
		p++;
		digits = 1;
	} else {
		for (; p < s->end && *p >= '0' && *p <= '9'; p++, digits++) {
			if (v > (uint64_t)INT64_MAX / 10 - 1)
				*isint = 0;
			v = v * 10 + (uint64_t)(*p - '0');
		}
	}
	if (p < s->end && *p == '.') {
		*isint = 0;
		if (++p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		*isint = 0;
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	(void)digits;
	*iv = neg ? -(int64_t)v : (int64_t)v;
	s->p = p;
	return 0;
}

static int scan_lit(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n))
		return -1;
	s->p += n;
	return 0;
}

/* What one member value is wanted as. */
enum want { W_NONE, W_STR, W_INT, W_BOOL, W_GRANT };

struct val {
	struct bh_tstr str;
	int64_t i;
	int isint, b, kind;	/* kind: 's' string, 'n' number, 't'/'f', '0' null, '{', '[' */
};

static int scan_value(struct scan *s, int depth, struct val *v, struct bh_tstr *grant_id);

/* An object or array at s->p, walked for its grammar. In an object given
 * grant_id, the member "id" (a string) is kept there. */
static int scan_container(struct scan *s, int depth, struct bh_tstr *grant_id)
{
	char close = *s->p == '{' ? '}' : ']';
	int obj = close == '}';
	struct val v;

	if (depth >= MAX_DEPTH)
		return -1;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 0;
	}
	for (;;) {
		struct bh_tstr key = { 0 };

		skip_ws(s);
		if (obj) {
			if (s->p >= s->end || *s->p != '"' || scan_string(s, &key))
				return -1;
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return -1;
			s->p++;
			skip_ws(s);
		}
		if (scan_value(s, depth + 1, &v, NULL))
			return -1;
		if (grant_id && v.kind == 's' && key.len == 2 && !memcmp(key.p, "id", 2))
			*grant_id = v.str;
		skip_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == close) {
			s->p++;
			return 0;
		}
		if (*s->p != ',')
			return -1;
		s->p++;
	}
}

static int scan_value(struct scan *s, int depth, struct val *v, struct bh_tstr *grant_id)
{
	if (s->p >= s->end)
		return -1;
	v->kind = *s->p;
	switch (*s->p) {
	case '"':
		v->kind = 's';
		return scan_string(s, &v->str);
	case '{':
	case '[':
		return scan_container(s, depth, *s->p == '{' ? grant_id : NULL);
	case 't':
		v->b = 1;
		return scan_lit(s, "true", 4);
	case 'f':
		v->b = 0;
		return scan_lit(s, "false", 5);
	case 'n':
		v->kind = '0';
		return scan_lit(s, "null", 4);
	default:
		v->kind = 'n';
		return scan_number(s, &v->i, &v->isint);
	}
}

/* The member table: key -> field of struct bh_tev. */
struct member {
	const char *key;
	uint8_t klen;
	uint8_t want;
	uint16_t off;
};

#define M(k, w, f) { k, sizeof(k) - 1, w, offsetof(struct bh_tev, f) }
static const struct member members[] = {
	M("v", W_INT, v), M("ts", W_STR, ts), M("type", W_STR, type),
	M("partner", W_STR, partner), M("verdict", W_STR, verdict),
	M("reason", W_STR, reason), M("grant", W_GRANT, grant_id),
	M("proto", W_STR, proto), M("src", W_STR, src), M("dst", W_STR, dst),
	M("dport", W_INT, dport), M("pid", W_INT, pid), M("comm", W_STR, comm),
	M("count", W_INT, count), M("what", W_STR, what), M("action", W_STR, action),
	M("phase", W_STR, phase), M("event", W_STR, event), M("hook", W_STR, hook),
	M("cgroup", W_STR, cgroup), M("tx_bytes", W_INT, tx_bytes),
	M("rx_bytes", W_INT, rx_bytes), M("aggregated", W_BOOL, aggregated),
	M("path", W_STR, path),
};
#undef M

/* Keys are looked up by (length, first two bytes): a table of 256 slots,
 * built once, collisions checked at build time (a slot holds one member). */
static unsigned int key_slot(const char *k, size_t len)
{
	return (unsigned int)(len + (unsigned char)k[0] * 7 + (len > 1 ? (unsigned char)k[1] : 0)) & 255;
}

static const struct member *member_slot[256];
static pthread_once_t member_once = PTHREAD_ONCE_INIT;

static void member_build(void)
{
	size_t i;

	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		unsigned int h = key_slot(members[i].key, members[i].klen);

		if (member_slot[h])
			abort();	/* two members in one slot: change key_slot */
		member_slot[h] = &members[i];
	}
}

static const struct member *member_of(const struct bh_tstr *k)
{
	const struct member *m;

	if (k->esc || !k->len)
		return NULL;
	pthread_once(&member_once, member_build);
	m = member_slot[key_slot(k->p, k->len)];
	return m && m->klen == k->len && !memcmp(m->key, k->p, k->len) ? m : NULL;
}

static void store(struct bh_tev *ev, const struct member *m, const struct val *v,
		  struct bh_tstr *type, int *has_v)
{
	char *f = (char *)ev + m->off;

	if (m->off == offsetof(struct bh_tev, type)) {
		if (v->kind == 's')
			*type = v->str;
		return;
	}
	switch (m->want) {
	case W_STR:
		if (v->kind == 's')
			*(struct bh_tstr *)f = v->str;
		else if (v->kind == '0')
			((struct bh_tstr *)f)->null = 1;
		break;
	case W_INT:
		if (v->kind == 'n' && v->isint) {
			*(int64_t *)f = v->i;
			if (m->off == offsetof(struct bh_tev, v))
				*has_v = 1;
		}
		break;
	case W_BOOL:
		if (v->kind == 't' || v->kind == 'f')
			*(int *)f = v->b;
		break;
	}
}

static const char *const type_names[BH_T__MAX] = {
	"connect", "send", "packet", "flow", "alert", "loss", "policy", "lifecycle"
};

const char *bh_ttype_name(enum bh_ttype t)
{
	return t < BH_T__MAX ? type_names[t] : "?";
}

static const char *const bad_names[BH_BAD__MAX] = {
	"not JSON", "v, ts or type missing", "unknown type", "newer schema version",
	"torn last line", "line too long", "gzip cut short or damaged"
};

const char *bh_tbad_name(enum bh_tbad b)
{
	return b < BH_BAD__MAX ? bad_names[b] : "?";
}

static int type_of(const struct bh_tstr *t)
{
	int i;

	for (i = 0; i < BH_T__MAX; i++) {
		if (!t->esc && strlen(type_names[i]) == t->len && !memcmp(type_names[i], t->p, t->len))
			return i;
	}
	return -1;
}

static void tev_init(struct bh_tev *ev, const char *buf, size_t len)
{
	memset(ev, 0, sizeof(*ev));
	ev->line = buf;
	ev->len = len;
	ev->v = ev->dport = ev->pid = ev->count = ev->tx_bytes = ev->rx_bytes = -1;
}

int bh_tev_parse(const char *buf, size_t len, struct bh_tev *ev, size_t *err_col)
{
	struct scan s = { buf, buf + len, buf };
	struct bh_tstr type = { 0 };
	int has_v = 0, t;

	tev_init(ev, buf, len);
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		goto syntax;
	s.p++;
	skip_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
	} else {
		for (;;) {
			struct bh_tstr key;
			const struct member *m;
			struct val v = { 0 };

			skip_ws(&s);
			if (s.p >= s.end || *s.p != '"' || scan_string(&s, &key))
				goto syntax;
			skip_ws(&s);
			if (s.p >= s.end || *s.p != ':')
				goto syntax;
			s.p++;
			skip_ws(&s);
			m = member_of(&key);
			if (scan_value(&s, 1, &v, m && m->want == W_GRANT ? &ev->grant_id : NULL))
				goto syntax;
			if (m && m->want != W_GRANT)
				store(ev, m, &v, &type, &has_v);
			skip_ws(&s);
			if (s.p >= s.end)
				goto syntax;
			if (*s.p == '}') {
				s.p++;
				break;
			}
			if (*s.p != ',')
				goto syntax;
			s.p++;
		}
	}
	skip_ws(&s);
	if (s.p != s.end)
		goto syntax;
	if (!has_v || !ev->ts.p || !type.p || bh_ts_parse(ev->ts.p, ev->ts.len, &ev->ts_us))
		return -(1 + BH_BAD_FIELD);
	if (ev->v > 1)
		return -(1 + BH_BAD_VERSION);
	if (ev->v < 1)
		return -(1 + BH_BAD_FIELD);
	t = type_of(&type);
	if (t < 0)
		return -(1 + BH_BAD_TYPE);
	ev->type = (enum bh_ttype)t;
	return 0;
syntax:
	if (err_col)
		*err_col = (size_t)(s.p - s.start) + 1;
	return -(1 + BH_BAD_JSON);
}

/* ------------------------------------------------------------ timestamps */

static int digits(const char *s, const char *pat)
{
	for (; *pat; pat++, s++) {
		if (*pat == 'd' ? (*s < '0' || *s > '9') : *s != *pat)
			return 0;
	}
	return 1;
}

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Seconds since the epoch of a date (YYYY-MM-DD at s); the last one is kept,
 * so a log of one day calls timegm once. */
static int day_secs(const char *s, int64_t *out)
{
	static _Thread_local char last[10];
	static _Thread_local int64_t last_secs;
	static _Thread_local int have;
	struct tm tm = { 0 };
	time_t t;

	if (have && !memcmp(last, s, 10)) {
		*out = last_secs;
		return 0;
	}
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + num2(s + 2) - 1900;
	tm.tm_mon = num2(s + 5) - 1;
	tm.tm_mday = num2(s + 8);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != num2(s + 8))
		return -EINVAL;
	memcpy(last, s, 10);
	last_secs = t;
	have = 1;
	*out = t;
	return 0;
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm) */
int bh_ts_parse(const char *s, size_t len, int64_t *us)
{
	int64_t day, frac = 0, scale = 1000000, off = 0;
	size_t i = 19;
	int hh, mm, ss;

	if (len < 20 || !digits(s, "dddd-dd-dd") || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, "dd:dd:dd") || day_secs(s, &day))
		return -EINVAL;
	hh = num2(s + 11);
	mm = num2(s + 14);
	ss = num2(s + 17);
	if (hh > 23 || mm > 59 || ss > 60)
		return -EINVAL;
	if (s[i] == '.') {
		if (++i >= len || s[i] < '0' || s[i] > '9')
			return -EINVAL;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (scale > 1) {
				scale /= 10;
				frac += (s[i] - '0') * scale;
			}
		}
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, "dd:dd")) {
		off = (num2(s + i + 1) * 3600 + num2(s + i + 4) * 60) * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else {
		return -EINVAL;
	}
	if (i != len)
		return -EINVAL;
	*us = (day + hh * 3600 + mm * 60 + ss - off) * 1000000 + frac;
	return 0;
}

/* ------------------------------------------------------------ strings */

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static uint32_t hex4(const char *p)
{
	return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

/* Decode escapes (the scanner checked them) into tmp; its length. */
static size_t unescape(const struct bh_tstr *s, char *tmp, size_t cap)
{
	const char *p = s->p, *end = s->p + s->len;
	size_t n = 0;

	while (p < end && n + 4 < cap) {
		uint32_t cp;

		if (*p != '\\') {
			tmp[n++] = *p++;
			continue;
		}
		switch (p[1]) {
		case 'b': tmp[n++] = '\b'; break;
		case 'f': tmp[n++] = '\f'; break;
		case 'n': tmp[n++] = '\n'; break;
		case 'r': tmp[n++] = '\r'; break;
		case 't': tmp[n++] = '\t'; break;
		case 'u':
			cp = hex4(p + 2);
			if (cp >= 0xd800 && cp < 0xdc00 && p + 12 <= end && p[6] == '\\' &&
			    p[7] == 'u') {
				uint32_t lo = hex4(p + 8);

				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;
			n += put_utf8(tmp + n, cp);
			p += 6;
			continue;
		default: tmp[n++] = p[1]; break;
		}
		p += 2;
	}
	return n;
}

const char *bh_tstr_get(const struct bh_tstr *s, char *out, size_t outlen)
{
	char tmp[1024];
	size_t n;

	if (!outlen)
		return out;
	if (!s->p) {
		out[0] = '\0';
		return out;
	}
	if (!s->esc) {
		n = s->len < sizeof(tmp) ? s->len : sizeof(tmp);
		return bh_sanitize((const uint8_t *)s->p, n, out, outlen);
	}
	n = unescape(s, tmp, sizeof(tmp));
	return bh_sanitize((const uint8_t *)tmp, n, out, outlen);
}

int bh_tstr_eq(const struct bh_tstr *s, const char *t)
{
	char buf[512];

	if (!s->p)
		return 0;
	if (!s->esc)
		return strlen(t) == s->len && !memcmp(s->p, t, s->len);
	return !strcmp(bh_tstr_get(s, buf, sizeof(buf)), t);
}

/* ------------------------------------------------------------ bad lines */

void bh_tbad_add(struct bh_tbad_stats *s, enum bh_tbad kind, const char *file, uint64_t line)
{
	s->n[kind]++;
	s->total++;
	if (s->nkept < BH_TBAD_KEEP) {
		snprintf(s->kept[s->nkept].where, sizeof(s->kept[0].where), "%s:%llu", file,
			 (unsigned long long)line);
		s->kept[s->nkept].kind = kind;
		s->nkept++;
		fprintf(stderr, "bulkhead trace: %s:%llu: %s, skipped\n", file,
			(unsigned long long)line, bh_tbad_name(kind));
	}
}

/* ------------------------------------------------------------ sources */

#define BUF_START (256u << 10)

struct tsrc {
	char **paths;		/* oldest first; the last is the live file */
	size_t npaths, cur;
	int fd;			/* current file (plain, or under gz) */
	gzFile gz;		/* set for a gzip file */
	dev_t dev;
	ino_t ino;
	char *buf;
	size_t cap, start, end;
	uint64_t lineno;
	int eof;		/* the current file is at its end (for now) */
	int skipping;		/* inside a line longer than BH_TLINE_MAX */
	int is_host;
	char *partner;		/* a partner file: its name (for the host dedupe) */
	struct bh_tev head;
	size_t order;
};

struct bh_tmerge {
	struct bh_tmerge_opts o;
	struct tsrc *src;
	size_t nsrc, cap;
	size_t *heap, nheap;	/* sources with a head, min ts first */
	int started;
	size_t pending;		/* 1 + the source whose head was handed out */
	uint64_t lines;
	size_t nopen;
	struct bh_tbad_stats bad;
};

int bh_tmerge_new(struct bh_tmerge **m, const struct bh_tmerge_opts *o)
{
	*m = calloc(1, sizeof(**m));
	if (!*m)
		return -ENOMEM;
	(*m)->o = *o;
	return 0;
}

static void src_close(struct tsrc *s)
{
	if (s->gz)
		gzclose(s->gz);		/* closes fd */
	else if (s->fd > 0)
		close(s->fd);
	s->gz = NULL;
	s->fd = -1;
}

static const char *src_name(const struct tsrc *s)
{
	return s->cur < s->npaths ? s->paths[s->cur] : s->paths[s->npaths - 1];
}

/* Open paths[cur]: 0, or -errno (said once). */
static int src_open(struct tsrc *s)
{
	const char *path = s->paths[s->cur];
	unsigned char magic[2];
	struct stat st;
	ssize_t n;

	s->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(0);
	if (s->fd < 0 || fstat(s->fd, &st)) {
		int err = -errno;

		fprintf(stderr, "bulkhead trace: %s: cannot read: %s\n", path, strerror(errno));
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
		return err;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->lineno = 0;
	s->eof = 0;
	s->start = s->end = 0;
	n = S_ISREG(st.st_mode) ? pread(s->fd, magic, 2, 0) : 0;
	/* a pipe cannot be peeked at: zlib reads it, gzip or plain */
	if (!S_ISREG(st.st_mode) || (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b)) {
		s->gz = gzdopen(s->fd, "rb");
		if (!s->gz) {
			close(s->fd);
			s->fd = -1;
			return -ENOMEM;
		}
		gzbuffer(s->gz, 128u << 10);
	}
	return 0;
}

/* Read more bytes into buf; 0 at the end of the current file. */
static ssize_t src_fill(struct tsrc *s)
{
	ssize_t n;

	if (s->start > 0 && s->start == s->end)
		s->start = s->end = 0;
	if (s->end == s->cap && s->start > 0) {
		memmove(s->buf, s->buf + s->start, s->end - s->start);
		s->end -= s->start;
		s->start = 0;
	}
	if (s->end == s->cap) {
		size_t ncap = s->cap * 2;
		char *nb;

		if (ncap > BH_TLINE_MAX + 1) {
			s->skipping = 1;	/* drop what we have, up to the newline */
			s->start = s->end = 0;
			return 1;
		}
		nb = realloc(s->buf, ncap);
		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = ncap;
	}
	if (s->gz) {
		int r = gzread(s->gz, s->buf + s->end, (unsigned int)(s->cap - s->end));
		int zerr;

		if (r < 0 || (r == 0 && (gzerror(s->gz, &zerr), zerr != Z_OK))) {
			return -EIO;
		}
		n = r;
	} else {
		do
			n = read(s->fd, s->buf + s->end, s->cap - s->end);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
	}
	s->end += (size_t)n;
	return n;
}

static int src_is_live_end(const struct bh_tmerge *m, const struct tsrc *s)
{
	return m->o.follow && s->cur + 1 >= s->npaths;
}

/* A rotation of the live file: its path now names another file. */
static int src_rotated(const struct tsrc *s)
{
	struct stat st;

	if (!strcmp(s->paths[s->npaths - 1], "-") || stat(s->paths[s->npaths - 1], &st))
		return 0;
	return st.st_dev != s->dev || st.st_ino != s->ino;
}

/* The next complete line of s: 1 with [*p, *len), 0 at the end (or, when
 * following, nothing more for now), -errno. */
static int src_line(struct bh_tmerge *m, struct tsrc *s, const char **p, size_t *len)
{
	for (;;) {
		char *nl = s->fd >= 0 ? memchr(s->buf + s->start, '\n', s->end - s->start) : NULL;
		ssize_t n;

		if (nl) {
			size_t off = s->start;

			s->start = (size_t)(nl - s->buf) + 1;
			s->lineno++;
			m->lines++;
			if (s->skipping) {
				s->skipping = 0;
				bh_tbad_add(&m->bad, BH_BAD_LONG, src_name(s), s->lineno);
				continue;
			}
			*p = s->buf + off;
			*len = (size_t)(nl - s->buf) - off;
			return 1;
		}
		if (s->fd < 0) {
			if (s->cur >= s->npaths)
				return 0;
			if (src_open(s) == 0)
				m->nopen++;
			else
				s->cur++;
			continue;
		}
		n = src_fill(s);
		if (n > 0)
			continue;
		if (n < 0 && n != -EIO)
			return (int)n;
		if (n == -EIO)
			bh_tbad_add(&m->bad, BH_BAD_GZIP, src_name(s), s->lineno + 1);
		if (src_is_live_end(m, s) && n == 0 && !src_rotated(s)) {
			s->eof = 1;
			return 0;	/* wait for more */
		}
		if (n == 0 && (s->end > s->start || s->skipping)) {
			/* (a cut gzip stream's partial line is in its gzip count) */
			s->lineno++;
			m->lines++;
			bh_tbad_add(&m->bad, s->skipping ? BH_BAD_LONG : BH_BAD_TORN, src_name(s),
				    s->lineno);
		}
		s->skipping = 0;
		s->start = s->end = 0;
		src_close(s);
		if (src_is_live_end(m, s)) {
			/* rotated: the same path again, from its start */
			continue;
		}
		s->cur++;
	}
}

/* Host copies of lines that are also in a partner file we read. */
static int host_dup(const struct bh_tmerge *m, const struct bh_tev *ev)
{
	size_t i;

	if (ev->type != BH_T_ALERT && !(ev->type == BH_T_POLICY && ev->partner.p))
		return 0;
	if (!ev->partner.p)
		return 0;
	for (i = 0; i < m->nsrc; i++) {
		if (m->src[i].partner && bh_tstr_eq(&ev->partner, m->src[i].partner))
			return 1;
	}
	return 0;
}

/* Advance s to its next good event: 1, 0 at the end, -errno. */
static int src_advance(struct bh_tmerge *m, struct tsrc *s)
{
	const char *p;
	size_t len;
	int r;

	while ((r = src_line(m, s, &p, &len)) == 1) {
		r = bh_tev_parse(p, len, &s->head, NULL);
		if (r < 0) {
			bh_tbad_add(&m->bad, (enum bh_tbad)(-r - 1), src_name(s), s->lineno);
			continue;
		}
		if (s->is_host && m->o.dedupe_host && host_dup(m, &s->head))
			continue;
		return 1;
	}
	return r;
}

/* ---- heap ---- */

static int less(const struct bh_tmerge *m, size_t a, size_t b)
{
	const struct tsrc *x = &m->src[a], *y = &m->src[b];

	if (x->head.ts_us != y->head.ts_us)
		return x->head.ts_us < y->head.ts_us;
	return x->order < y->order;
}

static void heap_push(struct bh_tmerge *m, size_t s)
{
	size_t i = m->nheap++;

	m->heap[i] = s;
	while (i > 0 && less(m, m->heap[i], m->heap[(i - 1) / 2])) {
		size_t p = (i - 1) / 2, t = m->heap[p];

		m->heap[p] = m->heap[i];
		m->heap[i] = t;
		i = p;
	}
}

static void heap_down(struct bh_tmerge *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i, t;

		if (l < m->nheap && less(m, m->heap[l], m->heap[min]))
			min = l;
		if (r < m->nheap && less(m, m->heap[r], m->heap[min]))
			min = r;
		if (min == i)
			return;
		t = m->heap[min];
		m->heap[min] = m->heap[i];
		m->heap[i] = t;
		i = min;
	}
}

static size_t heap_pop(struct bh_tmerge *m)
{
	size_t top = m->heap[0];

	m->heap[0] = m->heap[--m->nheap];
	heap_down(m, 0);
	return top;
}

/* ---- adding sources ---- */

static int add_src(struct bh_tmerge *m, char **paths, size_t n, int is_host, const char *partner)
{
	struct tsrc *s;

	if (m->nsrc == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 8;
		struct tsrc *ns = realloc(m->src, ncap * sizeof(*ns));
		size_t *nh = realloc(m->heap, ncap * sizeof(*nh));

		if (ns)
			m->src = ns;
		if (nh)
			m->heap = nh;
		if (!ns || !nh)
			return -ENOMEM;
		m->cap = ncap;
	}
	s = &m->src[m->nsrc];
	memset(s, 0, sizeof(*s));
	s->paths = paths;
	s->npaths = n;
	s->fd = -1;
	s->is_host = is_host;
	s->order = m->nsrc;
	s->cap = BUF_START;
	s->buf = malloc(s->cap);
	s->partner = partner ? strdup(partner) : NULL;
	if (!s->buf || (partner && !s->partner))
		return -ENOMEM;
	m->nsrc++;
	return 0;
}

/* "host.jsonl..." names a host file; "<p>.jsonl..." partner p's. */
static int base_info(const char *path, char *partner, size_t len)
{
	const char *b = strrchr(path, '/'), *e;

	b = b ? b + 1 : path;
	e = strstr(b, ".jsonl");
	partner[0] = '\0';
	if (!e)
		return 0;
	if ((size_t)(e - b) == 4 && !memcmp(b, "host", 4))
		return 1;
	snprintf(partner, len, "%.*s", (int)(e - b), b);
	return 0;
}

int bh_tmerge_add_file(struct bh_tmerge *m, const char *path)
{
	char **paths = calloc(1, sizeof(*paths)), partner[256];
	int host = base_info(path, partner, sizeof(partner));

	if (!paths || !(paths[0] = strdup(path))) {
		free(paths);
		return -ENOMEM;
	}
	return add_src(m, paths, 1, host, partner[0] && strcmp(path, "-") ? partner : NULL);
}

/* The rotation number of "<base>.N" or "<base>.N.gz" (name after base), or -1. */
static long rot_number(const char *rest)
{
	char *end;
	long n;

	if (*rest != '.' || rest[1] < '0' || rest[1] > '9')
		return -1;
	n = strtol(rest + 1, &end, 10);
	if (*end && strcmp(end, ".gz"))
		return -1;
	return n;
}

struct rot {
	long n;
	char *name;
};

static int rot_cmp(const void *a, const void *b)
{
	const struct rot *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;	/* highest (oldest) first */
}

static int wanted(const char *base, char **partners, int np)
{
	int i;

	if (!np || !strcmp(base, "host"))
		return 1;
	for (i = 0; i < np; i++) {
		if (!strcmp(base, partners[i]))
			return 1;
	}
	return 0;
}

/* One chain: base.jsonl.N[.gz] ... base.jsonl.1, base.jsonl. */
static int add_chain(struct bh_tmerge *m, const char *dir, const char *live, char **names,
		     size_t nnames)
{
	size_t llen = strlen(live), i, n = 0;
	struct rot *r = calloc(nnames + 1, sizeof(*r));
	char **paths = NULL, partner[256];
	int err = -ENOMEM, host;

	if (!r)
		return -ENOMEM;
	for (i = 0; i < nnames; i++) {
		long k;

		if (strncmp(names[i], live, llen) || (k = rot_number(names[i] + llen)) < 0)
			continue;
		r[n++] = (struct rot){ k, names[i] };
	}
	qsort(r, n, sizeof(*r), rot_cmp);
	r[n++] = (struct rot){ 0, (char *)live };
	paths = calloc(n, sizeof(*paths));
	if (!paths)
		goto out;
	for (i = 0; i < n; i++) {
		if (asprintf(&paths[i], "%s/%s", dir, r[i].name) < 0) {
			paths[i] = NULL;
			goto out;
		}
	}
	host = base_info(live, partner, sizeof(partner));
	err = add_src(m, paths, n, host, host ? NULL : partner);
	if (!err)
		paths = NULL;
out:
	if (paths) {
		for (i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
	}
	free(r);
	return err;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		int err = -errno;

		fprintf(stderr, "bulkhead trace: %s: cannot open the log directory: %s\n", dir,
			strerror(errno));
		return err;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".jsonl"))
			continue;
		if (*n == cap) {
			char **nn = realloc(*names, (cap = cap ? cap * 2 : 32) * sizeof(*nn));

			if (!nn)
				break;
			*names = nn;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
}

int bh_tmerge_add_dir(struct bh_tmerge *m, const char *dir, char **partners, int npartners)
{
	char **names, base[256];
	size_t n, i, added = 0;
	int err;

	err = list_dir(dir, &names, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		size_t l = strlen(names[i]);
		int host;

		if (l < 6 || strcmp(names[i] + l - 6, ".jsonl"))
			continue;	/* live files head the chains; siblings join them */
		host = base_info(names[i], base, sizeof(base));
		if (!wanted(host ? "host" : base, partners, npartners))
			continue;
		err = add_chain(m, dir, names[i], names, n);
		added++;
	}
	/* rotated files whose live file is gone */
	for (i = 0; i < n && !err; i++) {
		char *dot = strstr(names[i], ".jsonl."), live[300];
		size_t j;
		int have = 0;


		if (!dot || rot_number(dot + 6) < 0)
			continue;
		snprintf(live, sizeof(live), "%.*s.jsonl", (int)(dot - names[i]), names[i]);
		for (j = 0; j < n && !have; j++)
			have = !strcmp(names[j], live);
		if (have || !wanted(base_info(live, base, sizeof(base)) ? "host" : base, partners,
				    npartners))
			continue;
		/* the chain of the missing live file: only its siblings */
		{
			size_t k;
			int seen = 0;

			for (k = 0; k < m->nsrc && !seen; k++) {
				const char *p0 = m->src[k].paths[0], *b = strrchr(p0, '/');

				seen = b && !strncmp(b + 1, live, strlen(live)) &&
				       rot_number(b + 1 + strlen(live)) >= 0;
			}
			if (!seen) {
				err = add_chain(m, dir, live, names, n);
				if (!err) {
					struct tsrc *s = &m->src[m->nsrc - 1];

					free(s->paths[--s->npaths]);	/* no live file */
				}
				added++;
			}
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!err && !added)
		fprintf(stderr, "bulkhead trace: %s: no event log (*.jsonl) here\n", dir);
	return err;
}

/* ---- the merge ---- */

/* Every source without a head tries for its next line. 0 or -errno. */
static int advance_all(struct bh_tmerge *m)
{
	size_t i;

	for (i = 0; i < m->nsrc; i++) {
		int r = src_advance(m, &m->src[i]);

		if (r < 0)
			return r;
		if (r == 1)
			heap_push(m, i);
	}
	return 0;
}

static int start(struct bh_tmerge *m)
{
	m->started = 1;
	return advance_all(m);
}

/* Following: wait a moment, then take what the files have gained. */
static int refill_follow(struct bh_tmerge *m)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	int r;

	while (!m->nheap) {
		if (m->o.stop && *m->o.stop)
			return 0;
		nanosleep(&ts, NULL);
		if ((r = advance_all(m)))
			return r;
	}
	return 1;
}

int bh_tmerge_next(struct bh_tmerge *m, struct bh_tev *ev)
{
	int r;

	if (!m->started && (r = start(m)))
		return r;
	if (m->pending) {
		size_t s = m->pending - 1;

		m->pending = 0;
		r = src_advance(m, &m->src[s]);
		if (r < 0)
			return r;
		if (r == 1)
			heap_push(m, s);
	}
	if (!m->nheap && (!m->o.follow || (r = refill_follow(m)) <= 0))
		return m->o.follow ? r : 0;
	m->pending = heap_pop(m) + 1;
	*ev = m->src[m->pending - 1].head;
	return 1;
}

size_t bh_tmerge_nopen(const struct bh_tmerge *m)
{
	return m->nopen;
}

uint64_t bh_tmerge_lines(const struct bh_tmerge *m)
{
	return m->lines;
}

const struct bh_tbad_stats *bh_tmerge_bad(const struct bh_tmerge *m)
{
	return &m->bad;
}

/* Open every source's first file now, so "no file could be read" is known
 * before any output. Returns how many sources have a readable file. */
size_t bh_tmerge_open_all(struct bh_tmerge *m)
{
	if (!m->started && start(m) < 0)
		return 0;
	return m->nopen;
}

void bh_tmerge_free(struct bh_tmerge *m)
{
	size_t i, j;

	if (!m)
		return;
	for (i = 0; i < m->nsrc; i++) {
		struct tsrc *s = &m->src[i];

		src_close(s);
		for (j = 0; j < s->npaths; j++)
			free(s->paths[j]);
		free(s->paths);
		free(s->buf);
		free(s->partner);
	}
	free(m->src);
	free(m->heap);
	free(m);
}
