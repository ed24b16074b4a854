/*
 * Leaderboards and the buying ticker. See board.h.
 */
#include "board.h"

#include <stdlib.h>

#include "room.h"
#include "store.h"

#define FEATURE "board"
#define TICKER_MS 11000 /* the ticker's window (10 s), and a last publish of it */

typedef struct boards {
    lc_room_t *room;
    uint8_t dirty, busy;
    uint64_t until_ms, next_ms; /* the loop's clock */
} boards_t;

static boards_t *of(lc_room_t *r, int create) {
    boards_t **b = (boards_t **)lc_room_slot(r, FEATURE);
    if (!b) return NULL;
    if (!*b && create && (*b = calloc(1, sizeof(boards_t)))) (*b)->room = r;
    return *b;
}

static int on_bus(lc_room_t *r, const lc_msg_t *m) {
    boards_t *b;
    switch (m->type) {
    case LC_MSG_LIKES: /* offered by the core: who liked changed the likes board */
        if ((b = of(r, 1))) b->dirty = 1;
        return 0;
    case LC_MSG_STOCK: /* orders, cancels or expiries: the buyers board and the ticker */
    case LC_MSG_TEAM_DONE:
        if ((b = of(r, 1))) {
            b->dirty = 1;
            b->until_ms = uv_now(lc_room_server(r)->loop) + TICKER_MS;
        }
        return 0; /* the sale feature keeps the count */
    case LC_MSG_EXPIRED: /* units off the buyers board, even of a closed sale (no stock then) */
        if ((b = of(r, 1))) b->dirty = 1;
        return 0; /* the checkout feature tells the buyer */
    case LC_MSG_TOP:
    case LC_MSG_BUYING:
        lc_room_broadcast(r, m);
        return 1;
    default:
        return 0;
    }
}

static int on_welcome(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w) {
    (void)r;
    if (st->tops.n) lc_msg_set(w, tops, st->tops);
    return 0;
}

static void on_published(void *arg, int status, const lc_msg_t *reply) {
    boards_t *b = arg;
    b->busy = 0;
    /* held back by the once-a-second rule, or lost: ask again a second later */
    if (status != LC_STORE_OK || (lc_msg_has(reply, count) && reply->count > 0)) b->dirty = 1;
    lc_room_unref(b->room);
}

static void on_tick(lc_room_t *r, uint64_t now) {
    boards_t *b = of(r, 0);
    if (!b || b->busy || now < b->next_ms || (!b->dirty && now >= b->until_ms)) return;
    b->next_ms = now + 1000;
    b->dirty = 0;
    lc_room_ref(r);
    b->busy = 1;
    if (lc_store_boards_publish(lc_room_server(r)->store, lc_room_name(r), on_published, b) != 0) {
        b->busy = 0;
        b->dirty = 1;
        lc_room_unref(r);
    }
}

static int busy(lc_room_t *r) {
    boards_t *b = of(r, 0);
    return b && b->busy;
}

static const lc_msg_type_t messages[] = {LC_MSG_NONE};

const lc_feature_t lc_board_feature = {
    .name = FEATURE,
    .messages = messages,
    .on_bus = on_bus,
    .on_welcome = on_welcome,
    .on_tick = on_tick,
    .busy = busy,
    .on_free = lc_feature_free_slot,
};
