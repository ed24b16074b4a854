/*
 * lt_draw (draw.h): the draw rule and the commit, over OpenSSL's SHA-256.
 */
#include "draw.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_draw_sha256(const void *p, size_t n, uint8_t out[32]) {
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) return LT_DRAW_ECRYPTO;
    return 0;
}

int lt_draw_commit(const uint8_t seed[LT_DRAW_SEED_LEN], char out[LT_DRAW_HEX_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    uint8_t h[32];
    if (lt_draw_sha256(seed, LT_DRAW_SEED_LEN, h) != 0) return LT_DRAW_ECRYPTO;
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[LT_DRAW_HEX_LEN] = '\0';
    return 0;
}

int lt_draw_commit_ok(const uint8_t seed[LT_DRAW_SEED_LEN], const char *commit, size_t n) {
    char want[LT_DRAW_HEX_LEN + 1];
    if (lt_draw_commit(seed, want) != 0) return LT_DRAW_ECRYPTO;
    /* exact bytes: PROTOCOL.md says lowercase, so an uppercase commit is not the commit */
    return n == LT_DRAW_HEX_LEN && memcmp(want, commit, n) == 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int lt_draw_seed_parse(const char *hex, size_t n, uint8_t seed[LT_DRAW_SEED_LEN]) {
    if (!hex || n != LT_DRAW_HEX_LEN) return -1;
    for (size_t i = 0; i < LT_DRAW_SEED_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        seed[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int lt_draw_cmp(lc_str_t a, lc_str_t b) {
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    if (c) return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

size_t lt_draw_unsorted_at(const lc_str_t *v, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (lt_draw_cmp(v[i - 1], v[i]) >= 0) return i;
    return n;
}

/* h of step i: the first 8 bytes of SHA-256(seed || decimal(i)), big-endian. */
static int step_hash(const uint8_t seed[LT_DRAW_SEED_LEN], size_t i, uint64_t *h) {
    uint8_t buf[LT_DRAW_SEED_LEN + 24], d[32];
    memcpy(buf, seed, LT_DRAW_SEED_LEN);
    int len = snprintf((char *)buf + LT_DRAW_SEED_LEN, 24, "%zu", i);
    if (len <= 0 || lt_draw_sha256(buf, LT_DRAW_SEED_LEN + (size_t)len, d) != 0) return LT_DRAW_ECRYPTO;
    uint64_t x = 0;
    for (int b = 0; b < 8; b++) x = x << 8 | d[b];
    *h = x;
    return 0;
}

long lt_draw(const uint8_t seed[LT_DRAW_SEED_LEN], const lc_str_t *entrants, size_t n, size_t k, size_t *out) {
    if (lt_draw_unsorted_at(entrants, n) != n) return LT_DRAW_EUNSORTED;
    if (k > n) k = n;
    if (k == 0) return 0;
    size_t *perm = malloc(n * sizeof(*perm));
    if (!perm) return LT_DRAW_ENOMEM;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    long rc = (long)k;
    for (size_t i = 0; i < k; i++) {
        uint64_t h;
        if (step_hash(seed, i, &h) != 0) {
            rc = LT_DRAW_ECRYPTO;
            break;
        }
        size_t j = i + (size_t)(h % (uint64_t)(n - i));
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        out[i] = perm[i];
    }
    free(perm);
    return rc;
}
