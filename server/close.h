/*
 * lc_close: every WebSocket close code the server sends, in one table
 * (PROTOCOL.md, "Close codes"). 1006 is not here: it is what a client sees
 * when we cut a connection without a close frame (lc_conn_cut).
 */
#ifndef LC_CLOSE_H
#define LC_CLOSE_H

typedef enum {
    LC_CLOSE_GOING_AWAY = 1001,   /* the shard is shutting down: reconnect (after the hint) */
    LC_CLOSE_PROTOCOL = 1002,     /* RSV1 on a continuation frame (permessage-deflate) */
    LC_CLOSE_BAD_DATA = 1007,     /* a compressed message that does not inflate */
    LC_CLOSE_POLICY = 1008,       /* too slow, too many refused frames, unread replies */
    LC_CLOSE_TOO_LARGE = 1009,    /* a message over 4096 bytes */
    LC_CLOSE_INTERNAL = 1011,     /* out of memory */
    LC_CLOSE_UNAUTHORIZED = 4001, /* no, or a bad, token */
    LC_CLOSE_REVOKED = 4003,      /* the right to be here ended: token expired, or banned */
} lc_close_t;

#endif
