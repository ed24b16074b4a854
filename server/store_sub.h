/*
 * Internal to the store's backends: one sharded pub/sub subscriber
 * connection (SSUBSCRIBE) to one Redis node, which reconnects itself.
 *
 * Why not hiredis's async API: hiredis 0.14's subscribe mode knows only
 * SUBSCRIBE and PSUBSCRIBE; the `smessage` pushes of SSUBSCRIBE arrive with
 * no callback queued and trip its assertion. So this connection is ours: a
 * libuv TCP handle, RESP written by hand, and hiredis's reply reader
 * (redisReader) to parse what comes back.
 *
 * Sharded channels work on a single Redis too (Redis 7), so both backends
 * use this: a room's traffic touches only the node that owns its slot.
 */
#ifndef LC_STORE_SUB_H
#define LC_STORE_SUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lc_proto.h"
#include "map.h"

typedef struct lc__sub lc__sub_t;

typedef struct lc__sub_events {
    /* SSUBSCRIBE of channel took effect (also after every reconnect). */
    void (*on_subscribed)(lc__sub_t *s, lc_str_t channel);
    /* A message; payload valid during the call only. */
    void (*on_message)(lc__sub_t *s, lc_str_t channel, const char *payload, size_t n);
    /* The node stopped serving channel (its slot moved: a sunsubscribe we
     * did not ask for, or a MOVED answer to our SSUBSCRIBE): the owner
     * subscribes it elsewhere. The channel is no longer this connection's. */
    void (*on_lost)(lc__sub_t *s, lc_str_t channel);
    /* The connection went up or down (down: every channel was lost). */
    void (*on_change)(lc__sub_t *s);
} lc__sub_events_t;

typedef enum { LC__SUB_DOWN, LC__SUB_CONNECTING, LC__SUB_UP } lc__sub_state_t;

struct lc__sub {
    /* set by the owner before lc__sub_start */
    uv_loop_t *loop;
    char host[64];
    int port;
    void *owner;
    const lc__sub_events_t *ev;

    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t retry;
    void *reader; /* redisReader */
    char *rbuf;   /* read buffer */
    lc__sub_state_t state;
    int closing, handles, tcp_open;
    unsigned backoff_ms, fails;
    uint64_t started_ms;
    lc_map_t *channels;  /* what this connection should hold: channel -> 1 */
    lc_map_t *inflight;  /* SSUBSCRIBEs sent, not confirmed: channel -> 1 */
    void (*closed)(lc__sub_t *s); /* lc__sub_close's callback */
};

/* Starts connecting. 0, or -1 out of memory / no handles (nothing to close). */
int lc__sub_start(lc__sub_t *s);
int lc__sub_up(const lc__sub_t *s);
/* Keeps channel subscribed here (now if up, else once connected). 0, or -1
 * out of memory. */
int lc__sub_add(lc__sub_t *s, lc_str_t channel);
/* Lets channel go (SUNSUBSCRIBE if up). */
void lc__sub_remove(lc__sub_t *s, lc_str_t channel);
/* 1 if channel is this connection's. */
int lc__sub_has(const lc__sub_t *s, lc_str_t channel);
/* Calls fn for each of this connection's channels. fn must not change them. */
void lc__sub_foreach(const lc__sub_t *s, void (*fn)(void *arg, const char *ch, size_t n, void *v), void *arg);
/* Drops a connection that has been connecting longer than timeout_ms. */
void lc__sub_check(lc__sub_t *s, unsigned timeout_ms);
/* Closes for good; closed(s) runs once every handle is closed (then s may
 * be freed). */
void lc__sub_close(lc__sub_t *s, void (*closed)(lc__sub_t *s));

#endif
