#include "hist.h"

#include <string.h>

void lt_hist_init(lt_hist_t *h) {
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Range 0 holds [0, SUB) in buckets of width 1. Range r > 0 holds
 * [2^(r+SUB_BITS-1), 2^(r+SUB_BITS)) in buckets of width 2^r: sub-bucket
 * s = v >> r falls in [SUB/2, SUB), so a bucket is at most 2/SUB of its
 * values wide (the lower half of each range's array stays unused, which
 * keeps the index arithmetic to one shift). */
static void locate(uint64_t v, int *r, int *s) {
    if (v < LT_HIST_SUB) {
        *r = 0;
        *s = (int)v;
        return;
    }
    int msb = 63 - __builtin_clzll(v);
    int range = msb - LT_HIST_SUB_BITS + 1;
    if (range >= LT_HIST_RANGES) {
        *r = LT_HIST_RANGES - 1;
        *s = LT_HIST_SUB - 1;
        return;
    }
    *r = range;
    *s = (int)(v >> range);
}

static uint64_t upper(int r, int s) {
    if (r == 0) return (uint64_t)s;
    return (((uint64_t)s + 1) << r) - 1;
}

void lt_hist_record(lt_hist_t *h, uint64_t v) {
    int r, s;
    locate(v, &r, &s);
    h->b[r][s]++;
    h->count++;
    h->sum += v;
    if (v > h->max) h->max = v;
    if (v < h->min) h->min = v;
}

void lt_hist_merge(lt_hist_t *dst, const lt_hist_t *src) {
    for (int r = 0; r < LT_HIST_RANGES; r++)
        for (int s = 0; s < LT_HIST_SUB; s++) dst->b[r][s] += src->b[r][s];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max) dst->max = src->max;
    if (src->min < dst->min) dst->min = src->min;
}

uint64_t lt_hist_percentile(const lt_hist_t *h, double p) {
    if (!h->count) return 0;
    if (p >= 100) return h->max;
    uint64_t want = (uint64_t)((p / 100.0) * (double)h->count + 0.999999);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (int r = 0; r < LT_HIST_RANGES; r++) {
        for (int s = 0; s < LT_HIST_SUB; s++) {
            seen += h->b[r][s];
            if (seen >= want) {
                uint64_t u = upper(r, s);
                return u > h->max ? h->max : u;
            }
        }
    }
    return h->max;
}
