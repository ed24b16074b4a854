#include "lc_buf.h"

#include <stdlib.h>
#include <string.h>

int lc_buf_reserve(lc_buf_t *b, size_t extra) {
    if (b->cap - b->len >= extra) return 0;
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int lc_buf_append(lc_buf_t *b, const void *data, size_t n) {
    if (lc_buf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

void lc_buf_free(lc_buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
