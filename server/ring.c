#include "ring.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct lc_ring {
    lc_frame_t **slot; /* cap entries, seq & (cap - 1) */
    uint32_t *nread;   /* 2 * cap counters, seq & (2 * cap - 1): readers at seq */
    uint32_t cap, max_slots;
    uint64_t tail, head;
    size_t bytes, max_bytes;
    uint32_t readers;
    uint64_t dropped;
};

static uint32_t pow2(uint32_t v) {
    uint32_t p = 8;
    while (p < v && p < (1u << 30)) p <<= 1;
    return p;
}

lc_ring_t *lc_ring_create(uint32_t max_slots, size_t max_bytes) {
    lc_ring_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->max_slots = pow2(max_slots);
    r->max_bytes = max_bytes;
    /* Start small: most rooms are quiet, and a ring grows on demand. */
    r->cap = 8;
    r->slot = calloc(r->cap, sizeof(*r->slot));
    r->nread = calloc(2 * (size_t)r->cap, sizeof(*r->nread));
    if (!r->slot || !r->nread) {
        free(r->slot);
        free(r->nread);
        free(r);
        return NULL;
    }
    return r;
}

void lc_ring_destroy(lc_ring_t *r) {
    if (!r) return;
    for (uint64_t s = r->tail; s < r->head; s++) lc_frame_unref(r->slot[s & (r->cap - 1)]);
    free(r->slot);
    free(r->nread);
    free(r);
}

static uint32_t *nread_at(const lc_ring_t *r, uint64_t seq) {
    return &r->nread[seq & (2 * (uint64_t)r->cap - 1)];
}

/* Drops the oldest entry, whether or not readers still need it. Readers
 * still on it are lapped: their claim moves on to the new oldest entry, so
 * that when they next write they continue from there (after a gap). */
static void drop_tail(lc_ring_t *r, int unread) {
    lc_frame_t **s = &r->slot[r->tail & (r->cap - 1)];
    uint32_t *n = nread_at(r, r->tail);
    if (*n) {
        *nread_at(r, r->tail + 1) += *n;
        *n = 0;
    }
    if (unread) r->dropped++;
    r->bytes -= lc_frame_bytes(*s);
    lc_frame_unref(*s);
    *s = NULL;
    r->tail++;
}

/* Frees entries no reader is on or before. */
static void trim(lc_ring_t *r) {
    while (r->tail < r->head && *nread_at(r, r->tail) == 0) drop_tail(r, 0);
}

static int grow(lc_ring_t *r) {
    uint32_t ncap = r->cap * 2;
    lc_frame_t **slot = calloc(ncap, sizeof(*slot));
    uint32_t *nread = calloc(2 * (size_t)ncap, sizeof(*nread));
    if (!slot || !nread) {
        free(slot);
        free(nread);
        return -1;
    }
    for (uint64_t s = r->tail; s < r->head; s++) slot[s & (ncap - 1)] = r->slot[s & (r->cap - 1)];
    for (uint64_t s = r->tail; s <= r->head; s++)
        nread[s & (2 * (uint64_t)ncap - 1)] = *nread_at(r, s);
    free(r->slot);
    free(r->nread);
    r->slot = slot;
    r->nread = nread;
    r->cap = ncap;
    return 0;
}

uint64_t lc_ring_push(lc_ring_t *r, lc_frame_t *f) {
    size_t fb = lc_frame_bytes(f);
    /* Make room: first by growing, then by dropping the oldest entries. */
    while (r->head - r->tail >= r->cap) {
        if (r->cap < r->max_slots && grow(r) == 0) continue;
        drop_tail(r, 1);
    }
    while (r->tail < r->head && r->bytes + fb > r->max_bytes) drop_tail(r, 1);
    uint64_t seq = r->head;
    r->slot[seq & (r->cap - 1)] = f;
    r->bytes += fb;
    r->head++;
    /* readers at the old head stay counted there: they now have one to read */
    *nread_at(r, r->head) = 0;
    trim(r);
    return seq;
}

uint64_t lc_ring_head(const lc_ring_t *r) { return r->head; }
uint64_t lc_ring_tail(const lc_ring_t *r) { return r->tail; }

lc_frame_t *lc_ring_at(const lc_ring_t *r, uint64_t seq) {
    if (seq < r->tail || seq >= r->head) return NULL;
    return r->slot[seq & (r->cap - 1)];
}

void lc_ring_reader_add(lc_ring_t *r, uint64_t seq) {
    assert(seq >= r->tail && seq <= r->head);
    (*nread_at(r, seq))++;
    r->readers++;
}

/* A lapped reader (seq < tail) is counted at the tail: see drop_tail. */
static uint64_t counted_at(const lc_ring_t *r, uint64_t seq) { return seq < r->tail ? r->tail : seq; }

void lc_ring_reader_move(lc_ring_t *r, uint64_t from, uint64_t to) {
    assert(to >= r->tail && to <= r->head && (from < r->tail || to >= from));
    from = counted_at(r, from);
    if (from == to) return;
    assert(*nread_at(r, from) > 0);
    (*nread_at(r, from))--;
    (*nread_at(r, to))++;
    trim(r);
}

void lc_ring_reader_remove(lc_ring_t *r, uint64_t seq) {
    seq = counted_at(r, seq);
    assert(*nread_at(r, seq) > 0);
    (*nread_at(r, seq))--;
    r->readers--;
    trim(r);
}

size_t lc_ring_bytes(const lc_ring_t *r) { return r->bytes; }
uint64_t lc_ring_dropped(const lc_ring_t *r) { return r->dropped; }
uint32_t lc_ring_readers(const lc_ring_t *r) { return r->readers; }
