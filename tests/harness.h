/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one check harness of the C tests (tests/unit/, tests/kernel/): check
 * macros that print a label and file:line on failure, the pass/fail/skip
 * counters and the summary line "N passed, N failed" (", N skipped" when any)
 * that tests/run-all.sh adds up.
 *
 * Counting: a check made inside T_RUN(name, fn) counts toward that named
 * test, which passes or fails once ("ok"/"not ok" line); a check made outside
 * any named test counts on its own. The label of a failure is the running
 * test's name, else the function the check is in.
 *
 * Header only, for one translation unit per test binary.
 */
#ifndef BH_TEST_HARNESS_H
#define BH_TEST_HARNESS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bh_harness {
	int npass, nfail, nskip;
	const char *test;	/* the named test running, or NULL */
	int test_failed;	/* a check of that test failed */
};

static struct bh_harness bh_t;

__attribute__((format(printf, 5, 6), unused))
static void bh_check_(int ok, const char *func, const char *file, int line,
		      const char *fmt, ...)
{
	va_list ap;

	if (bh_t.test) {
		bh_t.test_failed |= !ok;
	} else if (ok) {
		bh_t.npass++;
	} else {
		bh_t.nfail++;
	}
	if (ok)
		return;
	fprintf(stderr, "FAIL %s (%s:%d): ", bh_t.test ? bh_t.test : func, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* CHECK(cond, "printf format", args...): the message says what was seen. */
#define CHECK(cond, ...) bh_check_(!!(cond), __func__, __FILE__, __LINE__, __VA_ARGS__)

__attribute__((unused))
static int bh_str_is(const char *got, const char *want)
{
	return got && !strcmp(got, want);
}

/* got (may be NULL) must equal the string want. */
#define CHECK_STR(got, want)                                                \
	do {                                                                \
		const char *got_ = (got);                                   \
		CHECK(bh_str_is(got_, (want)), "got \"%s\", want \"%s\"",   \
		      got_ ? got_ : "(null)", (want));                      \
	} while (0)

/* Run fn as the named test: one pass or one fail, whatever its checks. */
__attribute__((unused))
static void T_RUN(const char *name, void (*fn)(void))
{
	bh_t.test = name;
	bh_t.test_failed = 0;
	fn();
	if (bh_t.test_failed) {
		bh_t.nfail++;
		fprintf(stderr, "not ok  %s\n", name);
	} else {
		bh_t.npass++;
		printf("ok      %s\n", name);
	}
	bh_t.test = NULL;
}

/* Whether a check of the running named test has failed so far. */
#define T_FAILED() (bh_t.test_failed)

/* Count one skip, saying why (a test that cannot run here). */
__attribute__((format(printf, 1, 2), unused))
static void T_SKIP(const char *fmt, ...)
{
	va_list ap;

	bh_t.nskip++;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Remove a test's temporary directory tree (rm -rf); says so when it cannot. */
__attribute__((unused))
static void T_RMTREE(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
}

/* Print the summary line; returns the exit status (1 on any failure). */
__attribute__((unused))
static int T_SUMMARY(void)
{
	if (bh_t.nskip)
		printf("%d passed, %d failed, %d skipped\n", bh_t.npass, bh_t.nfail, bh_t.nskip);
	else
		printf("%d passed, %d failed\n", bh_t.npass, bh_t.nfail);
	fflush(stdout);
	return bh_t.nfail ? 1 : 0;
}

#endif /* BH_TEST_HARNESS_H */
