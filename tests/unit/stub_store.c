/*
 * A store for unit tests: every call is recorded and waits for the test to
 * answer it. See stub.h. It implements store.h's functions, so it is
 * linked instead of store.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub.h"

struct lc_store {
    stub_store_t st; /* first: an lc_store_t * is a stub_store_t * */
};

stub_store_t *stub_store_new(void) {
    struct lc_store *s = calloc(1, sizeof(*s));
    s->st.up = s->st.sub_up = 1;
    return &s->st;
}

void stub_store_free(stub_store_t *s) { free(s); }

static stub_store_t *st(lc_store_t *s) { return &s->st; }

size_t stub_count(const stub_store_t *s, stub_kind_t kind) {
    size_t n = 0;
    for (size_t i = 0; i < s->ncalls; i++) n += s->calls[i].kind == kind;
    return n;
}

stub_call_t *stub_last(stub_store_t *s, stub_kind_t kind) {
    for (size_t i = s->ncalls; i > 0; i--)
        if (s->calls[i - 1].kind == kind) return &s->calls[i - 1];
    return NULL;
}

static void copy(char *dst, size_t cap, lc_str_t v) {
    snprintf(dst, cap, "%.*s", (int)v.n, v.p ? v.p : "");
}

/* Records a call; -1 (nothing sent) when the store is down or refusing. */
static stub_call_t *record(lc_store_t *s, stub_kind_t kind, lc_str_t room, void *msg_cb, void *int_cb,
                           void *arg) {
    stub_store_t *t = st(s);
    if (!t->up || t->refuse_sends || t->ncalls == sizeof(t->calls) / sizeof(t->calls[0])) return NULL;
    stub_call_t *c = &t->calls[t->ncalls++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    copy(c->room, sizeof(c->room), room);
    c->msg_cb = msg_cb;
    c->int_cb = int_cb;
    c->arg = arg;
    return c;
}

void stub_answer_msg(stub_call_t *c, const lc_msg_t *m) {
    lc_buf_t b = LC_BUF_INIT;
    lc_msg_t d;
    lc_proto_err_t err;
    if (lc_msg_encode(m, LC_FMT_MSGPACK, &b) != 0 ||
        lc_msg_decode(&d, LC_FMT_MSGPACK, (lc_dir_t)(LC_DIR_S2C | LC_DIR_BUS), b.p, b.len, &err) != 0) {
        fprintf(stderr, "stub: the answer does not follow the schema: %s\n", err.message);
        abort();
    }
    c->answered = 1;
    c->msg_cb(c->arg, LC_STORE_OK, &d);
    lc_msg_clear(&d);
    lc_buf_free(&b);
}

void stub_answer_status(stub_call_t *c, int status) {
    c->answered = 1;
    if (c->msg_cb) c->msg_cb(c->arg, status, NULL);
    else c->int_cb(c->arg, status, 0);
}

void stub_answer_int(stub_call_t *c, int64_t v) {
    c->answered = 1;
    c->int_cb(c->arg, LC_STORE_OK, v);
}

/* ---- store.h ---- */

int lc_store_up(const lc_store_t *s) { return s->st.up; }
int lc_store_sub_up(const lc_store_t *s) { return s->st.sub_up; }
size_t lc_store_pending(const lc_store_t *s) { return 0; }

#define SENT(c) ((c) ? 0 : -1)

int lc_store_join(lc_store_t *s, const lc_store_join_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_JOIN, r->room, cb, NULL, arg);
    if (c) {
        copy(c->a, sizeof(c->a), r->since);
        c->n1 = r->count;
        c->nusers = r->nusers;
        if (r->nusers) copy(c->b, sizeof(c->b), r->users[0]);
    }
    return SENT(c);
}

int lc_store_comment(lc_store_t *s, const lc_store_comment_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_COMMENT, r->room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), r->text);
    return SENT(c);
}

int lc_store_post(lc_store_t *s, const lc_store_post_req_t *r, lc_store_msg_cb *cb, void *arg) {
    return SENT(record(s, STUB_POST, r->room, cb, NULL, arg));
}

int lc_store_likes(lc_store_t *s, const lc_store_likes_req_t *r, lc_store_int_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_LIKES, r->room, NULL, cb, arg);
    if (c) c->n1 = r->count, c->n2 = (int64_t)r->seq;
    return SENT(c);
}

int lc_store_viewers(lc_store_t *s, const lc_store_viewers_req_t *r, lc_store_int_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_VIEWERS, r->room, NULL, cb, arg);
    if (c) c->n1 = r->count;
    return SENT(c);
}

int lc_store_moderate(lc_store_t *s, const lc_store_moderate_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_MODERATE, r->room, cb, NULL, arg);
    if (c) c->n1 = r->op, copy(c->a, sizeof(c->a), r->user);
    return SENT(c);
}

int lc_store_buy(lc_store_t *s, const lc_store_buy_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_BUY, r->room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), r->sku), copy(c->b, sizeof(c->b), r->req), c->n1 = r->qty;
    return SENT(c);
}

int lc_store_sale_open(lc_store_t *s, const lc_store_sale_open_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_SALE_OPEN, r->room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), r->sku), c->n1 = r->stock;
    return SENT(c);
}

int lc_store_sale_close(lc_store_t *s, lc_str_t room, lc_str_t sku, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_SALE_CLOSE, room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), sku);
    return SENT(c);
}

int lc_store_cancel(lc_store_t *s, const lc_store_cancel_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_CANCEL, r->room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), r->order);
    return SENT(c);
}

int lc_store_group_join(lc_store_t *s, const lc_store_group_join_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_GROUP_JOIN, r->room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), r->sku), copy(c->b, sizeof(c->b), r->req);
    return SENT(c);
}

int lc_store_sale_expire(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg) {
    return SENT(record(s, STUB_EXPIRE, room, cb, NULL, arg));
}

int lc_store_sale_publish(lc_store_t *s, lc_str_t room, lc_str_t sku, lc_store_msg_cb *cb, void *arg) {
    stub_call_t *c = record(s, STUB_PUBLISH, room, cb, NULL, arg);
    if (c) copy(c->a, sizeof(c->a), sku);
    return SENT(c);
}

void lc_store_note_sale_room(lc_store_t *s, lc_str_t room) {}

int lc_store_subscribe(lc_store_t *s, lc_str_t room) {
    stub_store_t *t = st(s);
    if (t->nsub < 16) copy(t->subscribed[t->nsub++], 65, room);
    return 0;
}

void lc_store_unsubscribe(lc_store_t *s, lc_str_t room) { st(s)->unsubscribes++; }
