/*
 * lc_buf: a growable byte buffer, used by the encoders and by frame building.
 *
 * Out-of-memory policy (the whole project's): an allocation failure on a path
 * that serves one request fails that request with an error code; nothing
 * aborts. lc_buf functions return 0 on success and -1 when memory runs out,
 * leaving the buffer as it was.
 */
#ifndef LC_BUF_H
#define LC_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct lc_buf {
    uint8_t *p;  /* owned; NULL until the first append */
    size_t len;  /* bytes in use */
    size_t cap;  /* bytes allocated */
} lc_buf_t;

#define LC_BUF_INIT {NULL, 0, 0}

/* Makes room for at least `extra` more bytes. May move p: reread it after. */
int lc_buf_reserve(lc_buf_t *b, size_t extra);

/* Appends n bytes (may move p). */
int lc_buf_append(lc_buf_t *b, const void *data, size_t n);

/* Forgets the content, keeps the allocation for reuse. */
static inline void lc_buf_reset(lc_buf_t *b) { b->len = 0; }

/* Frees the allocation; the buffer is empty and reusable afterwards. */
void lc_buf_free(lc_buf_t *b);

#endif
