/*
 * lt_client's insides, shared by its two transports: client.c (the
 * libwebsockets client, every connection that decodes) and lean.c (the lean
 * reader for connections that only count). Nothing outside those two files
 * includes this.
 */
#ifndef LT_CLIENT_INT_H
#define LT_CLIENT_INT_H

#include <libwebsockets.h>

#include "client.h"

#define LT__BATCH 16384 /* the client-wide write buffer: frames written in one go */

typedef struct lt_lean lt_lean_t;

struct lt_client {
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct lws_protocols protocols[3];
    void *loops[1];
    lc_buf_t scratch;
    uint8_t *wbuf; /* LT__BATCH bytes */
    uint32_t mask_state;
    lt_client_stats_t st;
    /* lean.c */
    uint8_t *rbuf;        /* the one read buffer all lean connections read into */
    lt_lean_t *lean_head; /* every lean connection not ended yet */
    uv_timer_t sweep;     /* handshake and close timeouts */
    uint8_t sweep_init, sweep_closing, stopped, free_pending;
    uint8_t deflate; /* --deflate: lean viewers offer permessage-deflate (frames counted, not inflated) */
};

struct lt_conn {
    lt_client_t *cl;
    struct lws *wsi;   /* libwebsockets transport, or NULL */
    lt_lean_t *lean;   /* the lean transport, or NULL */
    const lt_conn_ops_t *ops;
    void *user;
    int fmt; /* lc_fmt_t or LT_FMT_RAW */
    int raw; /* deliver undecoded */
    int opened, closing, close_code;
    int in_connect, failed; /* a connect that fails inside lws_client_connect_via_info */
    int http_status, retry_after; /* a refused upgrade: its status and Retry-After (s), or 0 */
    lc_buf_t out; /* payloads queued: [u32 len][bytes]... */
    size_t out_off;
    lc_buf_t rx;  /* reassembly of a fragmented message */
};

/* client.c: frames one payload into out (FIN, masked, as a client must)
 * with opcode op; out has room for n + 14 bytes. Returns the frame's length. */
size_t lt__frame(lt_client_t *cl, uint8_t *out, int op, const uint8_t *p, size_t n);
/* client.c: the request path for room on t (t->path with {room} replaced,
 * or t->path?room=ROOM). */
void lt__conn_path(const lt_target_t *t, const char *room, char *path, size_t cap);
/* client.c: frees a connection's memory (not its transport). */
void lt__conn_free(lt_conn_t *c);

/* lean.c: starts c's connect to t (path: lt__conn_path). Returns 0, or -1
 * (nothing will be called back; the caller frees c). */
int lt__lean_open(lt_conn_t *c, const lt_target_t *t, const char *path, const char *src);
/* lean.c: frames and writes one data message (queued until the upgrade). */
int lt__lean_send(lt_conn_t *c, const void *p, size_t n);
/* lean.c: sends a close (1000) and waits for the server's. */
void lt__lean_close(lt_conn_t *c);
/* lean.c: data messages up to n bytes go to on_raw from now on. */
int lt__lean_set_peek(lt_conn_t *c, uint32_t n);
/* lean.c: ends every lean connection (on_close for each) and closes the
 * sweep timer; the client is freed by lt__lean_client_free. */
void lt__lean_stop(lt_client_t *cl);
/* lean.c: frees cl now, or from the sweep timer's close callback. */
void lt__lean_client_free(lt_client_t *cl);

#endif
