/*
 * lt_draw: the lucky-bag draw of PROTOCOL.md ("Lucky bag (福袋): a draw
 * anyone can verify") in C over OpenSSL's SHA-256, independent of the
 * server's Lua implementation, so that the load tool and
 * livecart-verify-draw can recompute what lottery.lua drew.
 *
 * The rule: the n entrants sorted bytewise; k = min(K, n); for i = 0..k-1,
 * h = the first 8 bytes of SHA-256(seed || decimal(i)) read big-endian,
 * j = i + h mod (n - i), swap positions i and j; the winners are the first
 * k positions, in that order.
 *
 * Pure functions: nothing here allocates except lt_draw's scratch
 * permutation, freed before it returns. Out of memory is an error return.
 */
#ifndef LT_DRAW_H
#define LT_DRAW_H

#include <stddef.h>
#include <stdint.h>

#include "lc_proto.h"

#define LT_DRAW_SEED_LEN 32 /* the raw seed */
#define LT_DRAW_HEX_LEN 64  /* a seed or a commit in hex */

enum { LT_DRAW_OK = 0, LT_DRAW_ENOMEM = -1, LT_DRAW_ECRYPTO = -2, LT_DRAW_EUNSORTED = -3 };

/* SHA-256 of p[0..n) into out (32 bytes). Returns 0 or LT_DRAW_ECRYPTO. */
int lt_draw_sha256(const void *p, size_t n, uint8_t out[32]);

/* The commit of a seed: lowercase hex of SHA-256(seed), NUL-terminated, into
 * out (65 bytes). Returns 0 or LT_DRAW_ECRYPTO. */
int lt_draw_commit(const uint8_t seed[LT_DRAW_SEED_LEN], char out[LT_DRAW_HEX_LEN + 1]);

/* 1 when commit[0..n) is exactly the commit of seed (lowercase hex, 64
 * digits), 0 when it is not, LT_DRAW_ECRYPTO when hashing failed. */
int lt_draw_commit_ok(const uint8_t seed[LT_DRAW_SEED_LEN], const char *commit, size_t n);

/* Parses 64 hex digits (either case) into seed. Returns 0, or -1 when hex
 * is not exactly that. */
int lt_draw_seed_parse(const char *hex, size_t n, uint8_t seed[LT_DRAW_SEED_LEN]);

/* Compares two user ids bytewise (memcmp), the shorter first when one is a
 * prefix of the other: the order of a Redis sorted set with equal scores.
 * <0, 0, >0 like memcmp. */
int lt_draw_cmp(lc_str_t a, lc_str_t b);

/* The first index i > 0 with v[i] not strictly greater than v[i-1] (out of
 * order, or a duplicate), or n when v is strictly increasing. */
size_t lt_draw_unsorted_at(const lc_str_t *v, size_t n);

/*
 * Draws from the n entrants (strictly increasing in lt_draw_cmp order: the
 * rule's step 1) with seed: writes min(k, n) indexes into entrants, in draw
 * order, to out (room for min(k, n) of them). Returns min(k, n), or
 * LT_DRAW_EUNSORTED (entrants out of order or repeated), LT_DRAW_ENOMEM or
 * LT_DRAW_ECRYPTO; out is then undefined.
 */
long lt_draw(const uint8_t seed[LT_DRAW_SEED_LEN], const lc_str_t *entrants, size_t n, size_t k, size_t *out);

/*
 * Checks a drawn lottery as `GET /api/rooms/ROOM/lotteries/ID` answers it
 * (a jansson object): state "drawn", SHA-256(seed) = commit, entrants sorted
 * bytewise and distinct, `entries` = their number, winners = min(k, n) of
 * them, and the winners recomputed from seed and entrants equal the answer's,
 * in order. Writes one line per check ("ok   name: detail" or
 * "FAIL name: detail") into log (NUL-terminated, cut at cap). Returns how many
 * checks failed (0: the draw is verified). Defined in draw_answer.c (jansson).
 */
struct json_t;
int lt_draw_verify_answer(const struct json_t *answer, char *log, size_t cap);

#endif
