/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Error collection: the "file:line:column: reason" messages of a policy
 * parse, a compile or a lint, kept up to BH_MAX_ERRORS and counted beyond,
 * and the quoting that makes a value safe to show in one of them.
 */
#ifndef BULKHEAD_ERRORS_H
#define BULKHEAD_ERRORS_H

#include <stddef.h>

/* At most this many messages are kept; later ones are only counted. */
#define BH_MAX_ERRORS 20

/*
 * Error messages, each "file:line:column: reason" (a file that cannot be
 * read at all: "file: reason"). more counts the messages dropped beyond
 * BH_MAX_ERRORS; print "(and N more errors)" when it is non-zero.
 */
struct bh_errors {
	size_t n;
	char **msg;
	size_t more;
};

void bh_errors_add(struct bh_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bh_errors_free(struct bh_errors *e);

/*
 * Put the messages from index from on in file order: those that start with
 * "name:LINE:COL:" by line and column, the others first, ties in the order
 * they were added.
 */
void bh_errors_sort(struct bh_errors *e, size_t from, const char *name);

/*
 * s double-quoted and safe for a terminal (quotes, backslashes and control
 * characters escaped), cut after about 64 bytes (at a character boundary)
 * with "...". buf holds BH_QUOTE_LEN bytes; BH_Q(s) gives it one that lives
 * until the end of the enclosing block, for use as a printf argument.
 */
#define BH_QUOTE_LEN 300
#define BH_Q(s) bh_quote((s), (char[BH_QUOTE_LEN]){ 0 })
const char *bh_quote(const char *s, char *buf);

#endif
