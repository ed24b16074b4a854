/*
 * lt_hist: a log-bucketed latency histogram in the HdrHistogram style:
 * values (microseconds) fall into power-of-two ranges, each split into
 * linear sub-buckets, so any recorded value is reported within 2/LT_HIST_SUB
 * (1.6 %) of itself, from 1 us to about an hour, in a fixed 13 KiB.
 * Recording is O(1); percentiles walk the buckets.
 */
#ifndef LT_HIST_H
#define LT_HIST_H

#include <stdint.h>

#define LT_HIST_SUB_BITS 7
#define LT_HIST_SUB (1 << LT_HIST_SUB_BITS)
#define LT_HIST_RANGES 26 /* up to 2^(25+7) us ~ 71 minutes */

typedef struct lt_hist {
    uint64_t count, max, min, sum;
    uint32_t b[LT_HIST_RANGES][LT_HIST_SUB];
} lt_hist_t;

void lt_hist_init(lt_hist_t *h);
/* Records one value; values past the last bucket count as the largest. */
void lt_hist_record(lt_hist_t *h, uint64_t v);
/* Adds all of src into dst. */
void lt_hist_merge(lt_hist_t *dst, const lt_hist_t *src);
/* The value at percentile p (0-100]: the highest value equivalent to the
 * bucket that holds it, never more than max. 0 when empty. */
uint64_t lt_hist_percentile(const lt_hist_t *h, double p);

#endif
