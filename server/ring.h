/*
 * lc_ring: a room's bounded broadcast ring, in the style of lws_ring: one
 * ring per room, one position (a sequence number) per reader, every message
 * stored once however many readers there are.
 *
 * Unlike lws_ring, the room never waits for its slowest reader: when the
 * ring is full (max_slots entries or max_bytes of frames), the oldest entry
 * is dropped, and a reader still positioned on it is "lapped" (its position
 * falls below lc_ring_tail()). A lapped reader keeps its claim on the
 * oldest entry still held, so it continues from there once it notices (on
 * its next write) and handles the gap. Entries every reader has passed are
 * freed at once, so an idle room holds nothing; a stalled reader pins at
 * most the ring's bounds.
 *
 * The ring counts readers per position (not a list of readers), so finding
 * the oldest position still needed is O(1) amortised, not a scan of every
 * reader per message (the cost that makes lws_ring's oldest-tail update
 * O(readers^2) per message when all readers move in lockstep).
 *
 * Positions are uint64 sequence numbers that never wrap in practice.
 */
#ifndef LC_RING_H
#define LC_RING_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

typedef struct lc_ring lc_ring_t;

/* max_slots is rounded up to a power of two. Returns NULL on OOM. */
lc_ring_t *lc_ring_create(uint32_t max_slots, size_t max_bytes);
/* Releases every frame still held. Readers must not use it afterwards. */
void lc_ring_destroy(lc_ring_t *r);

/*
 * Appends f, taking over the caller's reference (also on failure, when the
 * frame is released). May drop the oldest entries to stay within the
 * bounds. Returns the new entry's sequence number, or UINT64_MAX when out of
 * memory.
 */
uint64_t lc_ring_push(lc_ring_t *r, lc_frame_t *f);

/* The sequence number the next push will get (= one past the newest). */
uint64_t lc_ring_head(const lc_ring_t *r);
/* The oldest sequence number still held (== head when empty). */
uint64_t lc_ring_tail(const lc_ring_t *r);
/* The frame at seq, borrowed (valid until the next push or reader move), or
 * NULL if seq is not held. */
lc_frame_t *lc_ring_at(const lc_ring_t *r, uint64_t seq);

/* Registers a reader at seq, which must be in [tail, head]. */
void lc_ring_reader_add(lc_ring_t *r, uint64_t seq);
/* A reader moves from `from` (maybe lapped: < tail) to `to` in [tail, head].
 * May free entries no reader needs any more. */
void lc_ring_reader_move(lc_ring_t *r, uint64_t from, uint64_t to);
/* A reader at seq (maybe lapped) leaves. */
void lc_ring_reader_remove(lc_ring_t *r, uint64_t seq);

size_t lc_ring_bytes(const lc_ring_t *r);   /* frame bytes held */
uint64_t lc_ring_dropped(const lc_ring_t *r); /* entries dropped unread */
uint32_t lc_ring_readers(const lc_ring_t *r); /* readers registered, lapped ones included */

#endif
