/*
 * lc_conn: one client connection as rooms and handlers see it. The struct
 * is shared by server modules; the functions below are the whole interface
 * to the network (implemented in net.c, the only file that talks to
 * libwebsockets about connections).
 *
 * Lifetime: net.c creates a conn when the WebSocket is established and
 * holds one reference until it closes; anything that answers later (a Redis
 * callback) holds its own reference. After close, wsi is NULL and every send
 * is a no-op; the memory goes with the last reference.
 */
#ifndef LC_CONN_H
#define LC_CONN_H

#include <stdint.h>

#include "bucket.h"
#include "frame.h"
#include "lc_proto.h"
#include "server.h"

typedef enum {
    LC_CONN_NEW,     /* no hello yet */
    LC_CONN_WAITING, /* hello accepted, waiting for the room's subscription or batch */
    LC_CONN_JOINING, /* a ring reader; its welcome is being fetched */
    LC_CONN_JOINED,  /* welcomed: receives the room's traffic */
    LC_CONN_CLOSED,  /* the socket is gone */
} lc_conn_state_t;

typedef struct lc_qitem {
    struct lc_qitem *next;
    lc_frame_t *f;
} lc_qitem_t;

struct lc_conn {
    lc_server_t *srv;
    struct lws *wsi; /* NULL once closed */
    lc_room_t *room; /* holds a room reference while open */
    lc_conn_t *prev, *next;   /* server's list of open connections */
    lc_conn_t *rprev, *rnext; /* the room list it is on (waiting or members) */
    lc_conn_t *fnext;         /* the flush list (net.c), holding a reference */
    uint32_t refs;
    uint8_t fmt;   /* lc_fmt_t */
    uint8_t state; /* lc_conn_state_t */
    uint8_t role; /* lc_role_t: from the token, or as declared in open mode */
    uint8_t gaps;
    uint8_t want_write; /* a WRITEABLE is already requested */
    uint8_t flushing;   /* on the flush list (net.c) */
    uint8_t idle;       /* on the room's idle list: caught up */
    uint8_t resume;     /* WAITING with a `since`: last holds it */
    uint16_t close_code; /* non-zero: close with it once the queue is sent */
    uint8_t close_sent;  /* our close frame is written */
    uint8_t killed;      /* cut without a close frame (hard_close in net.c) */
    const char *close_why; /* static text for the close frame */
    uint64_t tail;       /* ring position (JOINING, JOINED) */
    lc_sid_t last;       /* newest comment delivered: no duplicates, gap hint */
    lc_qitem_t *qhead, *qtail; /* unicast frames, sent before ring traffic */
    uint32_t qbytes;
    int64_t exp;     /* token expiry (s since epoch); 0: no token */
    lc_bucket_t b_comment, b_like, b_buy;
    uint16_t limited; /* rate-limited frames in a row */
    uint32_t last_rx;      /* s on the loop clock: when the client last sent anything */
    uint32_t pinged_after; /* silence (s) when we pinged; valid while pinged */
    uint16_t jitter;       /* s added to --ping-secs for this connection */
    uint8_t pinged;
    uint64_t close_at; /* draining: when to close (loop ms) */
    uint64_t stall_ms;   /* waiting on a WRITEABLE since (loop ms), 0: not waiting */
    uint32_t stall_outq; /* the kernel's unsent bytes when last seen (progress check) */
    char ip[48];      /* the client's address (after trusted proxies) */
    uint8_t *rx; /* reassembly of a fragmented message, LC_MAX_CLIENT_MSG */
    uint16_t rxlen;
    uint8_t ulen;
    char user[65];
};

/* Unicast queue bound: a client that does not read its own replies (pings,
 * errors) is closed 1008 past this, rather than growing memory. */
#define LC_CONN_QUEUE_MAX (256 * 1024)

/* Queues f (taking a new reference) for this connection, after what is
 * already queued and before further ring traffic. */
void lc_conn_send(lc_conn_t *c, lc_frame_t *f);
/* Encodes m for this connection's format and queues it. */
void lc_conn_send_msg(lc_conn_t *c, const lc_msg_t *m);
/* Queues an error frame. */
void lc_conn_send_error(lc_conn_t *c, lc_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Closes with code and a short static reason once the queue is sent.
 * Further input is ignored. */
void lc_conn_close(lc_conn_t *c, uint16_t code, const char *why);
/* The connection has something to send: it is written at the end of this
 * loop iteration (directly, or on WRITEABLE under backpressure). */
void lc_conn_wake(lc_conn_t *c);

static inline lc_conn_t *lc_conn_ref(lc_conn_t *c) {
    c->refs++;
    return c;
}
void lc_conn_unref(lc_conn_t *c);

#endif
