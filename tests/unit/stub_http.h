/*
 * Stubs for unit tests of the HTTP handlers (api.c, static.c, status.c):
 *
 *  - an in-memory request (stub_http.c) that implements http.h's request
 *    functions the way http.c does -- the same states, the same body
 *    framing rules (Content-Length, chunked via lc_http_dechunk, keep and
 *    drain), the same "answer once" rule -- and records the answer;
 *  - a store (stub_apistore.c) with the two commands the API sends, which
 *    records each call and lets the test answer it with a message.
 *
 * Linked instead of http.c and store.c: no libwebsockets, no Redis.
 */
#ifndef LC_TEST_STUB_HTTP_H
#define LC_TEST_STUB_HTTP_H

#include <stddef.h>

#include "http.h"
#include "store.h"

/* ---- the request ---- */

/* A new request (the test frees it with stub_req_free, whatever the
 * handler did). */
lc_http_req_t *stub_req_new(lc_http_method_t m, const char *path);
void stub_req_free(lc_http_req_t *q);
/* Adds a request header (copied). */
void stub_req_header(lc_http_req_t *q, const char *name, const char *value);

/* Runs a route's handler on q, as http.c does: headers readable during
 * the call; a declared empty body is complete right after it. */
void stub_run(lc_http_req_t *q, lc_http_handler_fn *fn, void *arg);
/* Delivers n bytes of body (one LWS_CALLBACK_HTTP_BODY), and the body's
 * end when a Content-Length is reached. Returns 0, or -1 where http.c's
 * callback would close the connection without calling the body fn. */
int stub_body(lc_http_req_t *q, const char *p, size_t n);
/* The client goes away (LWS_CALLBACK_CLOSED_HTTP). */
void stub_leave(lc_http_req_t *q);

/* What happened to q. */
typedef struct stub_answer {
    int answers;    /* lc_http_respond calls that wrote (or would have) */
    int misuse;     /* calls made in a state where http.c refuses them */
    int deferred;   /* lc_http_defer was called */
    int dropped;    /* lc_http_drop */
    int asked_body; /* lc_http_read_body returned 0 */
    int no_answer;  /* the handler returned having done nothing (http.c: 500) */
    unsigned status;
    char ctype[128];
    char headers[8][2][256]; /* name, value */
    size_t nheaders;
    long content_length;     /* -1: none (304) */
    char body[1 << 21];      /* what would be written: nothing for HEAD or 304 */
    size_t nbody;
} stub_answer_t;
const stub_answer_t *stub_answer(const lc_http_req_t *q);
/* The value of an answer header, or NULL. */
const char *stub_answer_header(const lc_http_req_t *q, const char *name);
/* 1 while the request waits for a later answer. */
int stub_waiting(const lc_http_req_t *q);

/* The routes lc_http_route was given, in order (any lc_http_t). */
size_t stub_routes(void);
const char *stub_route_pattern(size_t i);
lc_http_handler_fn *stub_route_fn(size_t i);
void stub_routes_reset(void);

/* ---- the store, as the API uses it ---- */

typedef struct stub_cmd {
    int post; /* 1: lc_store_post, 0: lc_store_join */
    char room[65], shard[65];
    lc_msg_type_t type;
    char text[600], sku[65], title[256], key[65];
    long long price;
    unsigned key_ttl_s, cap, count;
    lc_store_msg_cb *cb;
    void *arg;
} stub_cmd_t;

/* The store handed to the code under test: its commands, in order. */
typedef struct stub_apistore {
    int down; /* calls return -1: nothing sent */
    stub_cmd_t cmds[16];
    size_t ncmds;
} stub_apistore_t;

stub_apistore_t *stub_apistore_new(void);
void stub_apistore_free(stub_apistore_t *s);
lc_store_t *stub_apistore_handle(stub_apistore_t *s);
/* Answers command i with status and reply (NULL unless LC_STORE_OK). */
void stub_apistore_answer(stub_apistore_t *s, size_t i, int status, const lc_msg_t *reply);

#endif
