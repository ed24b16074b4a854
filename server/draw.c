/*
 * The draw's positions. See draw.h.
 */
#include "draw.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

/* The swaps so far: position -> who is there now, for the positions that
 * moved (at most 2 per step). Linear: k <= 1000, so at most 2,000 entries. */
typedef struct moved {
    uint64_t at[2 * LC_DRAW_MAX_K], who[2 * LC_DRAW_MAX_K];
    size_t n;
} moved_t;

static uint64_t who_at(const moved_t *m, uint64_t p) {
    for (size_t i = 0; i < m->n; i++)
        if (m->at[i] == p) return m->who[i];
    return p;
}

static void put(moved_t *m, uint64_t p, uint64_t w) {
    for (size_t i = 0; i < m->n; i++)
        if (m->at[i] == p) {
            m->who[i] = w;
            return;
        }
    m->at[m->n] = p;
    m->who[m->n++] = w;
}

int lc_draw_positions(const uint8_t seed[32], uint64_t n, unsigned K, uint64_t *pos) {
    uint64_t k64 = K < n ? K : n;
    if (k64 > LC_DRAW_MAX_K) return -1;
    unsigned k = (unsigned)k64;
    moved_t m; /* 32 KB on the stack, no allocation */
    m.n = 0;
    for (unsigned i = 0; i < k; i++) {
        uint8_t in[32 + 12], d[SHA256_DIGEST_LENGTH];
        memcpy(in, seed, 32);
        int dn = snprintf((char *)in + 32, 12, "%u", i);
        if (dn <= 0 || !SHA256(in, 32 + (size_t)dn, d)) return -1;
        uint64_t h = 0;
        for (int b = 0; b < 8; b++) h = h << 8 | d[b];
        uint64_t j = i + h % (n - i);
        uint64_t wi = who_at(&m, i), wj = who_at(&m, j);
        put(&m, i, wj);
        put(&m, j, wi);
        pos[i] = wj;
    }
    return (int)k;
}

int lc_draw_unhex(const char *hex, size_t n, uint8_t out[32]) {
    if (n != 64) return -1;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int h = 0; h < 2; h++) {
            char c = hex[2 * i + (size_t)h];
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
            if (d > 15) return -1;
            v = v << 4 | d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}
