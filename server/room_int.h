/*
 * Private to the room engine (room.c, room_join.c, room_counters.c).
 */
#ifndef LC_ROOM_INT_H
#define LC_ROOM_INT_H

#include "list.h"
#include "map.h"
#include "ring.h"
#include "room.h"

enum { SUB_NONE, SUB_PENDING, SUB_LIVE };

struct lc_rooms {
    lc_server_t *srv;
    lc_map_t *by_name;  /* name -> lc_room_t */
    lc_list_t all;      /* the same rooms, for ticking */
    const lc_feature_t *const *features;
    size_t nfeatures;
};

struct lc_room {
    lc_server_t *srv;
    lc_rooms_t *rs;
    lc_list_t link;
    uint32_t refs;
    uint8_t nlen;
    char name[65];
    lc_ring_t *ring;
    lc_list_t waiting;     /* hello said, join not sent yet */
    lc_list_t idle, busy;  /* joined: caught up / with something to write */
    uint32_t local;        /* joined connections on this shard */
    uint32_t streamers;    /* of them, with the streamer role */
    uint32_t streamer_joins; /* streamers joined (or become so) so far: a count that only grows */
    uint32_t joining;      /* connections inside a join request */
    uint8_t sub, batch_busy, recovering, need_recover, have_pushed, have_floor;
    lc_sid_t last_pushed;  /* newest stream entry pushed into the ring */
    lc_sid_t floor;        /* oldest history end handed out (catch-up start when nothing pushed) */
    lc_frame_t **held;     /* live entries held while catching up */
    size_t nheld, capheld;
    int held_overflow;
    int64_t likes_total, likes_sent, viewers_total, viewers_sent;
    int viewers_heard;     /* a viewers message came through the channel */
    int64_t likes_pending, likes_inflight;
    /* who sent the pending likes of connections gone before the batch, and
     * who sent the batch in flight (sent again as it is until answered) */
    struct lc_store_liker *left, *inflight;
    size_t nleft, capleft, ninflight;
    uint64_t likes_seq;
    uint8_t likes_busy, share_busy;
    int64_t share_flushed, share_sending;
    uint64_t share_at, empty_since;
    void *slots[LC_FEATURES_MAX]; /* each feature's state */
};

/* room.c */
void lc__room_push(lc_room_t *r, lc_frame_t *f);          /* takes f; wakes the idle readers */
void lc__room_push_entry(lc_room_t *r, lc_frame_t *f);    /* a stream entry, unless pushed already */
void lc__room_push_gap(lc_room_t *r, lc_sid_t after);
void lc__room_send_state(lc_room_t *r, lc_conn_t *c);     /* the latest likes and viewers to c */
void lc__room_counter_msg(lc_msg_t *m, int likes, int64_t v);
void lc__room_list_move(lc_list_t *to, lc_conn_t *c);      /* c->rlink onto a room list */
int lc__room_features_busy(lc_room_t *r);
void lc__room_free(lc_room_t *r);                         /* a room nobody uses (the tick, destroy) */
/* Appends c's user and pending likes to a growing array; 0, or -1 out of memory. */
int lc__room_add_liker(struct lc_store_liker **a, size_t *n, size_t *cap, const lc_conn_t *c);
void lc__room_likes_left(lc_room_t *r, lc_conn_t *c); /* c leaves: keep who sent its pending likes */
void lc__room_likes_free(lc_room_t *r);

/* room_join.c */
void lc__room_start_recover(lc_room_t *r);
void lc__room_fail_conn(lc_room_t *r, lc_conn_t *c);

/* room_counters.c */
int lc__room_flushed(lc_room_t *r);


#endif
