#include "redis_uv.h"

#include <stdlib.h>
#include <string.h>

typedef struct lc_redis_uv {
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    uv_poll_t poll;
    int events;
} lc_redis_uv_t;

static void on_poll(uv_poll_t *h, int status, int events) {
    lc_redis_uv_t *p = h->data;
    if (status < 0) {
        /* An error (POLLERR): let hiredis find it by trying the socket. It
         * checks SO_ERROR while connecting and sees the failing read after. */
        events = UV_READABLE | UV_WRITABLE;
    }
    if (p->ac && (events & UV_READABLE)) redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
}

static void update(lc_redis_uv_t *p, int add, int del) {
    p->events = (p->events | add) & ~del;
    if (p->events)
        uv_poll_start(&p->poll, p->events, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void add_read(void *d) { update(d, UV_READABLE, 0); }
static void del_read(void *d) { update(d, 0, UV_READABLE); }
static void add_write(void *d) { update(d, UV_WRITABLE, 0); }
static void del_write(void *d) { update(d, 0, UV_WRITABLE); }

static void on_closed(uv_handle_t *h) { free(h->data); }

/* hiredis calls this while freeing the context: the poll handle is closed
 * and our struct freed in its close callback (libuv's rule). */
static void cleanup(void *d) {
    lc_redis_uv_t *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, on_closed);
}

int lc_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data != NULL) return -1;
    lc_redis_uv_t *p = calloc(1, sizeof(*p));
    if (!p) return -1;
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return 0;
}
