/* SPDX-License-Identifier: MIT
** Minimal C unit-test harness: CHECK(cond) counts, CTEST_END prints the closing
** line "N passed, N failed" that tests/run.sh adds up.
*/
#ifndef KIVA_CTEST_H
#define KIVA_CTEST_H
#include <stdio.h>

static int ctest_passed, ctest_failed;

#define CHECK(cond) do { \
    if (cond) ctest_passed++; \
    else { ctest_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CTEST_END() (printf("%d passed, %d failed\n", ctest_passed, ctest_failed), ctest_failed != 0)
#endif
