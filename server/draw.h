/*
 * lc_draw: the lucky-bag draw of PROTOCOL.md ("Lucky bag"), as positions
 * into the bytewise-sorted entrant list: for i = 0 .. k-1, h = the first 8
 * bytes of SHA-256(seed || decimal(i)) big-endian, j = i + h mod (n - i),
 * swap positions i and j; the winners are at the first k positions. Only
 * the k positions are computed (the swaps are kept sparse: k <= 1000, n may
 * be millions), so a shard draws in about a millisecond and Redis only looks up
 * the k winners (lottery.lua "record"): nothing long runs inside Redis.
 */
#ifndef LC_DRAW_H
#define LC_DRAW_H

#include <stddef.h>
#include <stdint.h>

#define LC_DRAW_MAX_K 1000

/* Fills pos[0 .. k-1] (k = min(K, n), at most LC_DRAW_MAX_K) with the
 * winners' positions, in draw order. Returns k, or -1 (hashing failed, or
 * k over the maximum). */
int lc_draw_positions(const uint8_t seed[32], uint64_t n, unsigned K, uint64_t *pos);

/* Parses 64 hex digits into 32 bytes: 0, or -1. */
int lc_draw_unhex(const char *hex, size_t n, uint8_t out[32]);

#endif
