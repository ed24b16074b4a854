/*
 * Private to conn.c and conn_sweep.c: the registry of a shard's
 * connections.
 */
#ifndef LC_CONN_INT_H
#define LC_CONN_INT_H

#include <uv.h>

#include "conn.h"
#include "deflate.h"

struct lc_conns {
    lc_server_t *srv;
    const lc_conn_io_t *io;
    lc_conn_fill_fn *fill;
    lc_list_t all;       /* every open connection (lc_conn_t.link) */
    unsigned count;
    lc_list_t flush;     /* connections with something to write (lc_conn_t.flink) */
    uv_check_t check;    /* after every poll phase: flush */
    uv_timer_t delay;    /* --write-delay-ms: wakes the loop when the first delayed flush is due */
    unsigned delay_ms;
    int closing;         /* handles still to close at destroy */
    uint8_t *wbuf;       /* LC_WRITE_BATCH bytes, reused by every write */
    lc_frame_t *ping;    /* a WebSocket ping, framed once */
    lc_deflate_t *z;     /* --deflate: compresses shared frames once (NULL: off) */
};

struct lc_conn_batch {
    lc_conn_t *c;
    uint8_t *buf; /* NULL once a frame too big for a batch went out alone */
    size_t n;
    int failed;   /* the socket failed */
};

#endif
