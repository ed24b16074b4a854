/*
 * lc_conn: one client connection, as everything above the network sees
 * it -- who it is, its room, its queue of replies, closing -- and the
 * write path that turns that queue and the room's traffic into bytes.
 *
 * No libwebsockets here. The transport below a connection is a table of
 * functions (lc_conn_io_t) that net.c fills with libwebsockets calls and a
 * unit test fills with a recorder. What goes to a connection after its
 * replies is asked from above, through the fill hook the room engine sets
 * (lc_conns_set_fill): this module never reaches into rooms.
 *
 * Lifetime: net.c creates a conn when the WebSocket is established and
 * holds one reference until it closes; anything that answers later (a Redis
 * callback) holds its own. After close, every send is a no-op; the memory
 * goes with the last reference.
 */
#ifndef LC_CONN_H
#define LC_CONN_H

#include <netinet/in.h>
#include <stdint.h>

#include "bucket.h"
#include "close.h"
#include "frame.h"
#include "lc_proto.h"
#include "list.h"
#include "role.h"
#include "server.h"

typedef struct lc_room lc_room_t;
typedef struct lc_conn lc_conn_t;

typedef enum {
    LC_CONN_NEW,     /* no hello yet */
    LC_CONN_WAITING, /* hello accepted, waiting for the room's subscription or batch */
    LC_CONN_JOINING, /* a ring reader; its welcome is being fetched */
    LC_CONN_JOINED,  /* welcomed: receives the room's traffic */
    LC_CONN_CLOSED,  /* the socket is gone */
} lc_conn_state_t;

/* The transport under every connection (net.c; a stub in unit tests). t is
 * the connection's transport handle (c->t). */
typedef struct lc_conn_io {
    /* Writes n bytes of complete frames now; what the socket does not take
     * the transport keeps and sends before anything else. 0, or -1 if the
     * socket failed. */
    int (*write)(void *t, const uint8_t *p, size_t n);
    /* 1 while the transport still holds bytes of an earlier write. */
    int (*buffered)(void *t);
    /* Ask for lc_conn_writable once the socket can take more. */
    void (*want_writable)(void *t);
    /* Cut the connection now: no flush, no close frame, a TCP reset. */
    void (*kill)(void *t);
    /* Bytes the kernel still holds for the peer (progress check), or
     * UINT32_MAX when unknown. */
    uint32_t (*unsent)(void *t);
} lc_conn_io_t;

/* One write being put together: frames are added until it is full. */
typedef struct lc_conn_batch lc_conn_batch_t;
/* Adds one framed message (for this connection's format). Returns 1 if it
 * was taken, 0 if the write is full (stop and come back on the next). */
int lc_conn_batch_add(lc_conn_batch_t *b, const uint8_t *p, size_t n);
/* The same for a frame, in the form this connection takes: its format,
 * compressed if it negotiated permessage-deflate (deflate.h). */
int lc_conn_batch_add_frame(lc_conn_batch_t *b, lc_frame_t *f);

/* Room traffic for c after its replies: add frames with lc_conn_batch_add;
 * set *more when something is left for the next write. */
typedef void lc_conn_fill_fn(lc_conn_t *c, lc_conn_batch_t *b, int *more);

typedef struct lc_qitem {
    lc_list_t link;
    lc_frame_t *f;
} lc_qitem_t;

/* Ordered by size within each owner's part, so that the struct carries no
 * padding: it is one of the few allocations an idle viewer costs
 * (loadtest/results/memory-*.md). */
struct lc_conn {
    /* ---- who the connection is (set by net.c and auth.c; read by all) ---- */
    lc_server_t *srv;
    lc_room_t *room;  /* holds a room reference while open */
    int64_t exp;      /* token expiry (s since epoch); 0: no token */
    lc_bucket_t b_comment, b_like, b_buy, b_read; /* b_read: reads that run a script (coupons) */
    uint32_t limited; /* refused frames in a row (lc_conn_limited); --abuse-close goes to 10^6 */
    uint8_t fmt;      /* lc_fmt_t */
    uint8_t deflate;  /* negotiated permessage-deflate: takes compressed frames (net.c) */
    uint8_t state;    /* lc_conn_state_t: the room engine moves it */
    uint8_t role;     /* lc_role_t: from the token, or as declared in open mode */
    uint8_t ulen;
    char user[65];
    char ip[INET6_ADDRSTRLEN]; /* the client's address (after trusted proxies) */

    /* ---- the room engine's (room.c, room_join.c) ---- */
    lc_list_t rlink;  /* on the room's waiting, idle or busy list */
    uint64_t tail;    /* ring position (JOINING, JOINED) */
    lc_sid_t last;    /* newest stream entry delivered: no duplicates, gap hint */
    uint64_t hello_failed_ms; /* loop clock of the last hello answered unavailable */
    uint32_t likes;   /* likes sent since the room's last batch (the board counts who sent them) */
    uint16_t gaps;    /* gaps sent (--max-gaps goes to 1000) */
    uint8_t idle;     /* on the idle list: caught up */
    uint8_t resume;   /* WAITING with a `since`: last holds it */
    uint8_t hello_fails;      /* hellos answered unavailable in a row (session.c) */

    /* ---- conn.c's ---- */
    uint8_t want_write;       /* waiting for lc_conn_writable */
    uint8_t close_sent;       /* our close frame is written */
    uint8_t close_wait;       /* it is on the wire: waiting for the client's (lc_conn_peer_closed) */
    uint8_t killed;           /* cut without a close frame */
    uint8_t pinged;
    uint16_t close_code;      /* non-zero: close with it once the queue is sent */
    uint16_t jitter;          /* s added to --ping-secs for this connection */
    uint32_t stall_outq;      /* the kernel's unsent bytes when last seen */
    void *t;                  /* the transport's handle (net.c: the lws wsi); NULL once closed */
    const char *close_why;    /* static text for the close frame */
    lc_list_t link;           /* every open connection */
    lc_list_t flink;          /* on the flush list, holding a reference */
    lc_list_t queue;          /* lc_qitem_t: unicast frames, before ring traffic */
    uint64_t close_at;        /* draining: when to close (loop ms) */
    uint64_t stall_ms;        /* waiting on the socket since (loop ms), 0: not waiting */
    uint32_t refs, qbytes;
    uint32_t flush_at;        /* loop ms (low 32 bits): its wake is due (--write-delay-ms) */
    uint32_t close_wait_at;   /* loop ms (low 32 bits): since when */
    uint32_t last_rx;         /* s on the loop clock: when the client last sent anything */
    uint32_t pinged_after;    /* silence (s) when we pinged; valid while pinged */
};

/* Unicast queue bound: a client that does not read its own replies (pings,
 * errors) is closed 1008 past this, rather than growing memory. */
#define LC_CONN_QUEUE_MAX (256 * 1024)

/* Most bytes one write carries: enough to batch many frames into one
 * send(), small enough that one fast reader cannot hold the loop (and that a
 * stalled socket buffers at most this below us on top of the kernel). */
#define LC_WRITE_BATCH 16384

/* ---- the registry ---- */

/* Creates the registry of srv's connections and its flush handle on the
 * loop. io is the transport's table (kept by pointer: static storage). */
lc_conns_t *lc_conns_create(lc_server_t *srv, const lc_conn_io_t *io);
/* Drops what the flush list holds and closes the handle; the memory goes
 * in the close callback (keep running the loop). */
void lc_conns_destroy(lc_conns_t *cs);
/* Sets what fills a connection's writes after its replies. */
void lc_conns_set_fill(lc_conns_t *cs, lc_conn_fill_fn *fill);
/* Open connections (not yet freed). */
unsigned lc_conns_count(const lc_conns_t *cs);
/* Calls fn for every open connection; fn may close connections. */
void lc_conns_foreach(lc_conns_t *cs, void (*fn)(lc_conn_t *c, void *arg), void *arg);

/* ---- one connection ---- */

/* A new connection on transport handle t (format fmt), with one reference
 * owned by the caller, on the registry's list. NULL out of memory. */
lc_conn_t *lc_conn_new(lc_conns_t *cs, void *t, lc_fmt_t fmt);
/* The transport is gone (the socket closed): frees the queue, leaves the
 * list, drops the caller's reference. The room must have let go first. */
void lc_conn_closed(lc_conn_t *c);

static inline lc_conn_t *lc_conn_ref(lc_conn_t *c) {
    c->refs++;
    return c;
}
void lc_conn_unref(lc_conn_t *c);

/* Queues f (taking a new reference) for this connection, after what is
 * already queued and before further ring traffic. */
void lc_conn_send(lc_conn_t *c, lc_frame_t *f);
/* Encodes m for this connection's format and queues it. */
void lc_conn_send_msg(lc_conn_t *c, const lc_msg_t *m);
/* Queues an error frame (counted in the metrics by code). */
void lc_conn_send_error(lc_conn_t *c, lc_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Closes with code and a short static reason once the queue is sent.
 * Further input is ignored. */
void lc_conn_close(lc_conn_t *c, lc_close_t code, const char *why);
/* Cuts the connection now, without a close frame (a stuck or silent peer). */
void lc_conn_cut(lc_conn_t *c);
/* The answer of a request sent to Redis (store.h): 0 if r is a usable
 * reply of type want; else the client is told -- error `unavailable` when
 * Redis refused the request before running it, `unknown` with the text of
 * fmt when it may have happened -- the failure is counted, and 1 returned. */
int lc_conn_answer_lost(lc_conn_t *c, int status, const lc_msg_t *r, lc_msg_type_t want, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Sends error `banned` and closes 4003. */
void lc_conn_banned(lc_conn_t *c);
/* The bucket of requests that run a commerce script (buys, cancels, group
 * joins, coupon claims: --buy-rate, --buy-burst): 1 if one may go; 0 if not
 * (counted): the caller answers rate_limited, then calls lc_conn_limited. */
int lc_conn_take_token(lc_conn_t *c);
/* The bucket of reads that run a script (`coupons`): LC_CONN_READ_RATE a
 * second, LC_CONN_READ_BURST at once -- apart from the buyers', so that a
 * client refreshing its coupons never starves its own buys. */
#define LC_CONN_READ_RATE 5
#define LC_CONN_READ_BURST 10
int lc_conn_take_read(lc_conn_t *c);
/* A request went over its bucket (the caller answered it): closes (1008) a
 * client that keeps going past --abuse-close refusals in a row. */
void lc_conn_limited(lc_conn_t *c);
/* Its hello was answered unavailable (Redis down, or the join failed): the
 * next one must wait a little (session.c). */
void lc_conn_hello_failed(lc_conn_t *c);
/* The connection has something to send: it is written at the end of this
 * loop iteration (directly, or once the socket can take more). */
void lc_conn_wake(lc_conn_t *c);
/* 1 once closing or closed: sending is pointless. */
static inline int lc_conn_closing(const lc_conn_t *c) { return !c->t || c->close_code; }

/* How long a connection whose close frame is on the wire waits for the
 * client's before it is cut (lc_conns_sweep looks once a second). */
#define LC_CLOSE_WAIT_MS 2000

/* The client sent its close frame. 1: we had sent ours, the handshake is
 * complete: hang up now; 0: the client began it (the transport answers). */
static inline int lc_conn_peer_closed(const lc_conn_t *c) { return c->close_sent; }

/* ---- from the transport ---- */

/* The client sent something (a frame, a pong): it is alive. */
void lc_conn_alive(lc_conn_t *c);
/* The socket can take more (the answer to want_writable). Returns 0, or -1
 * when the transport must hang up now. */
int lc_conn_writable(lc_conn_t *c);

/* ---- timers (conn_sweep.c) ---- */

/* Once a second: pings silent connections, cuts those that do not answer
 * and those whose socket takes no bytes for --write-timeout-ms. */
void lc_conns_sweep(lc_conns_t *cs);
/* Shutdown: tells every joined connection when to come back, spread over
 * --drain-ms, and closes each (1001) at its time (lc_conns_drain_step). */
void lc_conns_drain(lc_conns_t *cs);
/* Closes the connections whose time has come; returns how many are open. */
unsigned lc_conns_drain_step(lc_conns_t *cs);

#endif
