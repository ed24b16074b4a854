/*
 * lc_bucket: a token bucket (rate per second, burst), the unit of every
 * per-connection abuse limit.
 */
#ifndef LC_BUCKET_H
#define LC_BUCKET_H

#include <stdint.h>

typedef struct lc_bucket {
    float tokens;
    uint32_t at; /* loop ms (low 32 bits, odd) of the last refill; 0: never used (starts full) */
} lc_bucket_t;

/* Takes one token at time now_ms; 1 if there was one. 8 bytes, not 16:
 * four of them sit in every connection. The 32-bit clock wraps after 49
 * days, which at worst refills one bucket late once. */
static inline int lc_bucket_take(lc_bucket_t *b, double rate, double burst, uint64_t now_ms) {
    uint32_t now = (uint32_t)now_ms | 1;
    if (b->at == 0) {
        b->tokens = (float)burst;
    } else {
        double t = (double)b->tokens + (double)(uint32_t)(now - b->at) * rate / 1000.0;
        b->tokens = (float)(t > burst ? burst : t);
    }
    b->at = now;
    if (b->tokens < 1.0f) return 0;
    b->tokens -= 1.0f;
    return 1;
}

#endif
