/*
 * lc_bucket: a token bucket (rate per second, burst), the unit of every
 * per-connection abuse limit.
 */
#ifndef LC_BUCKET_H
#define LC_BUCKET_H

#include <stdint.h>

typedef struct lc_bucket {
    double tokens;
    uint64_t at; /* ms of the last refill; 0: never used (starts full) */
} lc_bucket_t;

/* Takes one token at time now_ms; 1 if there was one. */
static inline int lc_bucket_take(lc_bucket_t *b, double rate, double burst, uint64_t now_ms) {
    if (b->at == 0) {
        b->tokens = burst;
    } else {
        b->tokens += (double)(now_ms - b->at) * rate / 1000.0;
        if (b->tokens > burst) b->tokens = burst;
    }
    b->at = now_ms ? now_ms : 1;
    if (b->tokens < 1.0) return 0;
    b->tokens -= 1.0;
    return 1;
}

#endif
