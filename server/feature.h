/*
 * lc_feature: what a feature (flash sales, moderation, and the coming
 * coupons, lotteries, leaderboards) plugs into the core with -- the shape
 * of an nginx module. A feature fills one of these and is listed once, in
 * feature_list.c; the room engine and the session call its hooks and include
 * no feature's header. Every hook may be NULL.
 *
 * Per-room state: a feature keeps what it knows of a room in its slot
 * (lc_room_slot, by the feature's name); the room engine frees nothing in
 * it, on_free does.
 */
#ifndef LC_FEATURE_H
#define LC_FEATURE_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "conn.h"
#include "lc_proto.h"

typedef struct lc_feature {
    const char *name;
    /* The client messages this feature answers (LC_MSG_NONE-terminated);
     * each reaches on_message from a joined connection. */
    const lc_msg_type_t *messages;
    void (*on_message)(lc_conn_t *c, const lc_msg_t *m);
    /* A message on the room's channel that the core does not know: 1 if
     * this feature took it. The core's `likes` is offered too, for watching
     * (the answer is ignored). */
    int (*on_bus)(lc_room_t *r, const lc_msg_t *m);
    /* A join answer (`room_state`, see store.h) is in: add this feature's
     * part of the welcome (w), from st; the items of st stay valid until w
     * is encoded. Returns 0, or -1 (out of memory: the joins fail). */
    int (*on_welcome)(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w);
    /* May c join, given st? 0 to refuse: the feature has answered and
     * closed it. */
    int (*admit)(lc_room_t *r, const lc_msg_t *st, lc_conn_t *c);
    /* Once per tick, for every room. */
    void (*on_tick)(lc_room_t *r, uint64_t now_ms);
    /* 1 while the feature still has work for the room in flight (the room
     * is not freed, shutdown waits). */
    int (*busy)(lc_room_t *r);
    /* The room is going away: free the slot. */
    void (*on_free)(lc_room_t *r, void *slot);
} lc_feature_t;

/* on_free for a feature whose slot is one malloc'd block owning nothing. */
static inline void lc_feature_free_slot(lc_room_t *r, void *slot) {
    (void)r;
    free(slot);
}

/* The wall clock in ms since the epoch: what Redis's deadlines (TIME) are
 * compared with until Redis said what time it has (loop time, uv_now, is
 * monotonic and starts at 0). */
static inline int64_t lc_wall_ms(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Most features one server runs. */
#define LC_FEATURES_MAX 8 /* (7 run today) */

#endif
