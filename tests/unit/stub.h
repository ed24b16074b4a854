/*
 * Stubs for unit tests of the room engine and the features: a store that
 * records every call and lets the test answer it (stub_store.c), and a
 * transport that records every byte written (stub_io.c). Linked instead of
 * store.c and net.c: no Redis, no libwebsockets.
 */
#ifndef LC_TEST_STUB_H
#define LC_TEST_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "store.h"

/* ---- the store ---- */

typedef enum {
    STUB_JOIN, STUB_COMMENT, STUB_POST, STUB_LIKES, STUB_VIEWERS, STUB_MODERATE, STUB_BUY,
    STUB_SALE_OPEN, STUB_SALE_CLOSE, STUB_CANCEL, STUB_GROUP_JOIN, STUB_EXPIRE, STUB_PUBLISH,
} stub_kind_t;

/* One call the code under test made, waiting for its answer. */
typedef struct stub_call {
    stub_kind_t kind;
    char room[65], a[200], b[200]; /* room; the main strings (since / user / sku ...) */
    int64_t n1, n2;                /* the main numbers (count, seq, qty ...) */
    size_t nusers;
    lc_store_msg_cb *msg_cb;
    lc_store_int_cb *int_cb;
    void *arg;
    int answered;
} stub_call_t;

typedef struct stub_store {
    int up, sub_up;
    int refuse_sends;    /* calls return -1 (nothing sent) */
    stub_call_t calls[512];
    size_t ncalls;
    char subscribed[16][65];
    size_t nsub;
    size_t unsubscribes;
} stub_store_t;

/* The store the stubs act as; lc_store_t * handed to the code is this. */
stub_store_t *stub_store_new(void);
void stub_store_free(stub_store_t *s);
/* The number of calls of a kind, and the last one (NULL if none). */
size_t stub_count(const stub_store_t *s, stub_kind_t kind);
stub_call_t *stub_last(stub_store_t *s, stub_kind_t kind);
/* Answers a call with a message (msgpack-encoded and decoded again, as
 * the real store hands it over), a status without a message, or an int. */
void stub_answer_msg(stub_call_t *c, const lc_msg_t *m);
void stub_answer_status(stub_call_t *c, int status);
void stub_answer_int(stub_call_t *c, int64_t v);

/* ---- the transport ---- */

typedef struct stub_sock {
    uint8_t out[1 << 20]; /* everything written */
    size_t n;
    unsigned writes;      /* write calls (one per batch) */
    int buffered;         /* pretend the transport still holds bytes: no writes */
    int want_writable;    /* asked for a writable callback */
    int killed;
    uint32_t unsent;
} stub_sock_t;

extern const lc_conn_io_t stub_io;

/* Decodes the frames written to s (server frames of one format) into
 * msgs (up to cap); returns how many. */
size_t stub_frames(const stub_sock_t *s, lc_fmt_t fmt, lc_msg_t *msgs, size_t cap);
/* The close code of a close frame written to s, or 0. */
int stub_close_code(const stub_sock_t *s);

#endif
