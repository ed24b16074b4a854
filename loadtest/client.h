/*
 * lt_client: many livecart WebSocket client connections on one libuv loop
 * (libwebsockets client, foreign loop), speaking either subprotocol through
 * the proto/ codec. Scenarios see typed messages only.
 *
 * Sends are queued per connection and written in batches: a WRITEABLE
 * callback masks and frames everything queued into one buffer and hands it
 * to the socket in one write, so a load generator that sends thousands of
 * frames per second does not pay a syscall and a poll change per frame.
 *
 * Two transports behind the one lt_conn_t: libwebsockets (lt_conn_open),
 * for connections that decode what they get, and the lean reader
 * (lt_conn_open_lean, lean.c), for connections that only count it: its own
 * handshake on a libuv TCP handle, every read into one buffer shared by all
 * lean connections, frame headers walked by wsframe.c and payloads skipped.
 */
#ifndef LT_CLIENT_H
#define LT_CLIENT_H

#include <stdint.h>
#include <uv.h>

#include "lc_proto.h"

typedef struct lt_client lt_client_t;
typedef struct lt_conn lt_conn_t;

/* A third "format": plain WebSocket text with no subprotocol and no
 * livecart framing, for peers (nchan, a Node ws broadcast server). */
#define LT_FMT_RAW 2

typedef struct lt_conn_ops {
    void (*on_open)(lt_conn_t *c);
    /* A decoded server message; m is valid during the call only. */
    void (*on_msg)(lt_conn_t *c, const lc_msg_t *m, size_t bytes);
    /* A message not decoded (LT_FMT_RAW, or after lt_conn_set_raw); p is
     * valid during the call only. */
    void (*on_raw)(lt_conn_t *c, const uint8_t *p, size_t n);
    /* The connection ended: code is the server's close code, 1006 when the
     * socket closed without one, or 0 when it never opened (err says why).
     * The conn is freed after this returns. */
    void (*on_close)(lt_conn_t *c, int code, const char *err);
    /* Lean connections only: `frames` data messages of `bytes` payload bytes
     * in all arrived since the last call (at most one call per read, always
     * before an on_raw of a later message). They were not delivered: a lean
     * connection hands on_raw only the messages lt_conn_set_peek asked for. */
    void (*on_count)(lt_conn_t *c, uint64_t frames, uint64_t bytes);
} lt_conn_ops_t;

typedef struct lt_target {
    char host[64];
    int port;
    char path[128]; /* "/live", or a template with {room} (raw peers) */
} lt_target_t;

/* Parses ws://HOST:PORT/PATH. Returns 0 or -1. */
int lt_target_parse(lt_target_t *t, const char *url);

lt_client_t *lt_client_create(uv_loop_t *loop);
/* First step inside the loop; lt_client_free after the loop stopped. */
void lt_client_stop(lt_client_t *cl);
void lt_client_free(lt_client_t *cl);

/* Opens a connection to target for room, in format fmt (a livecart
 * subprotocol, or LT_FMT_RAW), from source address src (NULL: any). The
 * path is target->path with {room} replaced, or, without {room},
 * target->path?room=ROOM. Returns the conn (owned by the client until
 * on_close), or NULL (nothing will be called back). */
lt_conn_t *lt_conn_open(lt_client_t *cl, const lt_target_t *t, const char *room, int fmt,
                        const char *src, const lt_conn_ops_t *ops, void *user);
/* The same on the lean transport: on_open, on_count, on_close, and on_raw
 * for peeked messages; never on_msg. The upgrade is checked as RFC 6455
 * says (accept key, the offered subprotocol, no extension); pings are
 * answered with a masked pong; a framing error (wsframe.h) is counted in
 * framing_errors and closes the connection (1002, reported as 1002). */
lt_conn_t *lt_conn_open_lean(lt_client_t *cl, const lt_target_t *t, const char *room, int fmt,
                             const char *src, const lt_conn_ops_t *ops, void *user);
/* Lean connections: data messages of at most n bytes (<= 4096) go to on_raw
 * from the next message on, the rest are counted. Returns 0, or -1 (not a
 * lean connection, n too large, no memory). */
int lt_conn_set_peek(lt_conn_t *c, uint32_t n);
int lt_conn_is_lean(const lt_conn_t *c);
/* Encodes and queues m. Returns 0, or -1 (not open, or cannot encode). */
int lt_conn_send(lt_conn_t *c, const lc_msg_t *m);
/* Queues raw payload bytes as one frame of the connection's type (for
 * tests of servers that must reject garbage). */
int lt_conn_send_raw(lt_conn_t *c, const void *p, size_t n);
/* Closes (1000) once the queue is written. */
void lt_conn_close(lt_conn_t *c);
void *lt_conn_user(const lt_conn_t *c);
/* Rebinds the callbacks' user pointer (NULL: callbacks get NULL and should
 * ignore the connection, e.g. one on its way out). */
void lt_conn_set_user(lt_conn_t *c, void *user);
/* Deliver messages undecoded from now on (on_raw): a load generator's
 * counting-only connections must cost less than the server they measure. */
void lt_conn_set_raw(lt_conn_t *c, int raw);
int lt_conn_fmt(const lt_conn_t *c);
/* In on_close of a connection that never opened (code 0): the HTTP status
 * of a refused upgrade (503, 429, ...) and its Retry-After in seconds, each
 * 0 when there was none (connect refused, timeout). */
int lt_conn_http_status(const lt_conn_t *c);
int lt_conn_retry_after(const lt_conn_t *c);

/* Counters over all connections. */
typedef struct lt_client_stats {
    uint64_t frames_in, bytes_in, frames_out, bytes_out, decode_errors;
    uint64_t framing_errors; /* lean connections closed for a framing error */
    uint64_t lean_opened;    /* of `opened`, the lean ones */
    uint64_t open, opened, failed, closed;
} lt_client_stats_t;
const lt_client_stats_t *lt_client_stats(const lt_client_t *cl);
/* --deflate: lean connections offer permessage-deflate and count compressed
 * frames without inflating them (not with peeking: --resume). */
void lt_client_set_deflate(lt_client_t *cl, int on);

#endif
