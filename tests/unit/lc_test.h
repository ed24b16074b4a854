/*
 * A minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken expectation; lc_test_done() prints the count and
 * gives the exit status meson expects (0 pass, 1 fail).
 */
#ifndef LC_TEST_H
#define LC_TEST_H

#include <stdio.h>

static int lc_test_failures;
static int lc_test_checks;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        lc_test_checks++;                                                             \
        if (!(cond)) {                                                                \
            lc_test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                  \
    do {                                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                                 \
        lc_test_checks++;                                                                   \
        if (a_ != b_) {                                                                     \
            lc_test_failures++;                                                             \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, \
                    #b, a_, b_);                                                            \
        }                                                                                   \
    } while (0)

#define RUN(fn)                               \
    do {                                      \
        int before_ = lc_test_failures;       \
        fn();                                 \
        fprintf(stderr, "%s %s\n",            \
                lc_test_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

static inline int lc_test_done(void) {
    fprintf(stderr, "%d checks, %d failed\n", lc_test_checks, lc_test_failures);
    return lc_test_failures ? 1 : 0;
}

#endif
