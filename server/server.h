/*
 * lc_server: the one context every module gets. One process = one shard =
 * one libuv loop that owns libwebsockets and hiredis; this struct is the
 * only state that is not inside a module's own objects (no other globals).
 *
 * It holds the configuration, the loop, the shard's counters and one
 * opaque handle per module; what a module keeps is behind its handle and
 * is its own (the handles are created and freed by main.c, in dependency
 * order).
 */
#ifndef LC_SERVER_H
#define LC_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "lc_buf.h"
#include "metrics.h"

typedef struct lc_net lc_net_t;         /* net.c: libwebsockets, the listening socket */
typedef struct lc_http lc_http_t;       /* http.c: the HTTP side's routes and requests */
typedef struct lc_api lc_api_t;         /* api.c: the publish API's key */
typedef struct lc_store lc_store_t;     /* store.c: Redis */
typedef struct lc_conns lc_conns_t;     /* conn.c: every open connection, the write path */
typedef struct lc_rooms lc_rooms_t;     /* room.c: the rooms */
typedef struct lc_session lc_session_t; /* session.c: what a client message means */
typedef struct lc_auth lc_auth_t;       /* auth.c: the token key */
typedef struct lc_filter lc_filter_t;   /* filter.c: the word filter */
typedef struct lc_upgrade lc_upgrade_t; /* upgrade.c: who may open a WebSocket */

typedef struct lc_server {
    lc_config_t cfg;
    uv_loop_t *loop;
    char boot[24];   /* random id of this process's life (like batches) */
    lc_metrics_t m;  /* counters anyone may add to; rendered by status.c */
    lc_buf_t scratch; /* encoding scratch: filled and used within one call, never held */
    int draining;    /* SIGTERM/SIGINT received: refuse new work, fail health checks */

    lc_net_t *net;
    lc_http_t *http;
    lc_api_t *api;
    lc_store_t *store;
    lc_conns_t *conns;
    lc_rooms_t *rooms;
    lc_session_t *session;
    lc_auth_t *auth;
    lc_filter_t *filter;
    lc_upgrade_t *upgrade;
} lc_server_t;

#endif
