/*
 * Internal to the store's backends: one Redis connection on the libuv loop
 * that reconnects itself, with back-off, and the commands in flight on it.
 * hiredis 0.14 has no reconnect of its own. The single-instance backend
 * (store.c) owns two (commands, subscriber); a cluster backend would own
 * one per node.
 */
#ifndef LC_STORE_CONN_H
#define LC_STORE_CONN_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "list.h"

typedef struct lc__conn lc__conn_t;
typedef struct lc__req lc__req_t;

/* A command. Its words live in the same allocation (lc__req_alloc), so it
 * can be sent again as it is, or with words replaced by static strings. */
struct lc__req {
    lc_list_t link; /* on conn->pending while sent */
    lc__conn_t *conn;
    uint64_t sent_ms, sent_ns;
    /* Runs exactly once per send: rp is the reply, or NULL when the
     * connection was lost or dropped. It must free the request (the
     * allocation lc__req_alloc returned) or send it again. */
    void (*done)(lc__req_t *r, const redisReply *rp);
    int argc;
    const char **argv;
    size_t *argvlen;
};

/* Allocates an owner struct of `size` bytes whose first member is an
 * lc__req_t, with room for argc words of `bytes` bytes in all; *data is
 * where lc__req_word copies them. Zeroed; NULL out of memory. */
lc__req_t *lc__req_alloc(size_t size, int argc, size_t bytes, char **data);
/* Sets word i to a copy of p (n bytes) at *data, and advances *data. */
void lc__req_word(lc__req_t *r, int i, char **data, const char *p, size_t n);

typedef enum {
    LC__CONN_DOWN,       /* waiting to retry */
    LC__CONN_CONNECTING, /* TCP connect sent */
    LC__CONN_PREPARING,  /* connected; the owner prepares it (loads scripts, subscribes) */
    LC__CONN_UP,
} lc__conn_state_t;

struct lc__conn {
    uv_loop_t *loop;
    const char *host; /* numeric; the owner keeps it */
    int port;
    const char *name; /* for logs: "command", "subscriber" */
    void *owner;
    /* TCP is up: prepare the connection, then call lc__conn_ready. */
    void (*on_connect)(lc__conn_t *c);
    /* The connection went up or down. */
    void (*on_change)(lc__conn_t *c);

    redisAsyncContext *ac; /* NULL while down */
    lc__conn_state_t state;
    int closing;
    unsigned backoff_ms, fails;
    uint64_t started_ms; /* when the connect (or preparing) began */
    uv_timer_t retry;
    lc_list_t pending; /* lc__req_t sent and unanswered, oldest first */
    size_t npending;
};

/* Initialises c (the caller has set loop, host, port, name, owner and the
 * callbacks) and starts connecting. 0, or -1 if the retry timer cannot be
 * made (then nothing needs closing). */
int lc__conn_start(lc__conn_t *c);

/* Sends r; 0, or -1 if the connection cannot take it (r is untouched). */
int lc__conn_send(lc__conn_t *c, lc__req_t *r);

/* Marks a prepared connection up. */
void lc__conn_ready(lc__conn_t *c);

/* The watchdog: drops the connection (then reconnects) when it has been
 * connecting or preparing, or its oldest command has waited, longer than
 * timeout_ms. Pending commands' done() run with NULL before it returns. */
void lc__conn_check(lc__conn_t *c, unsigned timeout_ms);

/* Closes for good: pending commands' done() run now with NULL, and the
 * retry timer is closed with close_cb (its data is c->owner). */
void lc__conn_close(lc__conn_t *c, uv_close_cb close_cb);

#endif
