/* check.h -- a minimal unit-test harness: each CHECK failure prints "FAIL name: expr (file:line)";
 * each test function that ends without a failure prints "PASS name". tests/run counts the lines. */
#ifndef SNET_CHECK_H
#define SNET_CHECK_H

#include <stdio.h>

static int check_failed_in_test;
static int check_failures;

#define CHECK(expr)                                                                            \
	do {                                                                                   \
		if (!(expr)) {                                                                 \
			printf("FAIL %s: %s (%s:%d)\n", check_current, #expr, __FILE__, __LINE__);    \
			check_failed_in_test = 1;                                              \
		}                                                                              \
	} while (0)

static const char *check_current = "";

#define RUN(fn)                                                                                \
	do {                                                                                   \
		check_current = #fn;                                                           \
		check_failed_in_test = 0;                                                      \
		fn();                                                                          \
		if (check_failed_in_test)                                                      \
			check_failures++;                                                      \
		else                                                                           \
			printf("PASS %s\n", #fn);                                              \
		fflush(stdout);                                                                \
	} while (0)

#define CHECK_EXIT() return check_failures ? 1 : 0

#endif
