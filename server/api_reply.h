/*
 * Private to the publish API (api.c: routes, auth, messages; api_shop.c:
 * orders and coupon drops): what a request keeps from its handler to its
 * answer, and the answers themselves (api_reply.c). One way: api.c ->
 * api_shop.c -> api_reply.c.
 */
#ifndef LC_API_REPLY_H
#define LC_API_REPLY_H

#include <jansson.h>

#include "http.h"
#include "server.h"

#define LC_API_KEY_MAX 64 /* Idempotency-Key: 1-64 visible ASCII characters */

/* What a request keeps from its handler to its answer (lc_http_data). */
typedef struct lc_api_req {
    lc_server_t *srv;
    unsigned refuse; /* 401, or 400 (malformed Idempotency-Key): decided before the body */
    char room[65];
    size_t rn;
    char key[LC_API_KEY_MAX + 1]; /* Idempotency-Key, "" if none */
    char order[65];               /* /orders/ORDER: a stream id; /lotteries/ID: the id */
    size_t on;
} lc_api_req_t;

/* A deferred request's answer arrived (a store callback's arg): its block,
 * or NULL when the client went away meanwhile (the request is dropped here:
 * the caller just returns). */
lc_api_req_t *lc__api_answerable(lc_http_req_t *q);
/* The same for a read's answer (a GET changes nothing): also NULL when the
 * store's answer is not a usable reply of type want -- then 503 (retry) was
 * answered and the failure counted. */
lc_api_req_t *lc__api_read_answer(lc_http_req_t *q, int rc, const lc_msg_t *reply, lc_msg_type_t want);

/* Answers with {"error":CODE} (plus "message" when msg is not NULL: one of
 * our own literals, nothing to escape) and the header the status needs:
 * WWW-Authenticate for a 401, Allow (allow) for a 405. */
void lc__api_fail_with(lc_server_t *srv, lc_http_req_t *q, unsigned status, const char *msg, const char *allow);
void lc__api_fail(lc_server_t *srv, lc_http_req_t *q, unsigned status);
/* Answers status with a JSON document (taken: decref'd here); 500 when it
 * cannot be dumped (out of memory). */
void lc__api_json(lc_server_t *srv, lc_http_req_t *q, unsigned status, json_t *o);

#endif
