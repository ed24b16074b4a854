/*
 * lc_server: the one context every module gets. One process = one shard =
 * one libuv loop that owns libwebsockets and hiredis; this struct is the
 * only state that is not inside a module's own objects (no other globals).
 */
#ifndef LC_SERVER_H
#define LC_SERVER_H

#include <uv.h>

#include "config.h"
#include "lc_buf.h"
#include "map.h"
#include "metrics.h"
#include "store.h"

typedef struct lc_room lc_room_t;
typedef struct lc_conn lc_conn_t;
struct lws_context;

/* Most bytes one WRITEABLE callback copies for one connection: enough to
 * batch many frames into one send(), small enough that one fast reader
 * cannot hold the loop (and that a stalled socket buffers at most this in
 * libwebsockets on top of the kernel's buffer). */
#define LC_WRITE_BATCH 16384

typedef struct lc_server {
    lc_config_t cfg;
    uv_loop_t *loop;
    struct lws_context *lws;
    void *net;            /* net.c's private state */
    lc_store_t *store;
    lc_map_t *rooms;      /* name -> lc_room_t */
    lc_room_t *room_list; /* the same rooms, for ticking */
    lc_conn_t *conns;     /* every open connection, for shutdown */
    unsigned ws_alive;    /* WebSocket wsis lws has not freed yet (close frames in flight) */
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    uv_timer_t stop_timer;
    int draining;         /* SIGTERM/SIGINT received */
    uint64_t drain_deadline;
    int handles_open;
    lc_buf_t scratch;     /* encoding scratch, reused */
    uint8_t *wbuf;        /* LC_WRITE_BATCH bytes, reused by every WRITEABLE */
    char boot[24];        /* random id of this process's life (like batches) */
    uint8_t jwt_key[4096]; /* tokens required when jwt_keylen > 0 */
    size_t jwt_keylen;
    char **block;         /* word filter terms, lower-case */
    size_t nblock;
    lc_map_t *ips;        /* client IP -> open connections (per-IP cap) */
    uv_signal_t sighup;
    uv_timer_t sweep;     /* once a second: token expiry */
    int api_on;                   /* publish API enabled (a key is configured) */
    unsigned api_pending;         /* API requests waiting for Redis (shutdown waits) */
    unsigned char api_key_hash[32]; /* SHA-256 of the API key */
    lc_metrics_t m;
} lc_server_t;

#endif
