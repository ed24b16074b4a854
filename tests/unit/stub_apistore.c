/*
 * The store as the publish API uses it (see stub_http.h): lc_store_post
 * and lc_store_join record their request and wait for the test to answer.
 * Linked instead of store.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stub_http.h"

struct lc_store {
    stub_apistore_t st; /* first: an lc_store_t * is a stub_apistore_t * */
};

stub_apistore_t *stub_apistore_new(void) {
    struct lc_store *s = calloc(1, sizeof(*s));
    if (!s) abort();
    return &s->st;
}

void stub_apistore_free(stub_apistore_t *s) { free(s); }
lc_store_t *stub_apistore_handle(stub_apistore_t *s) { return (lc_store_t *)s; }

static void copy(char *dst, size_t cap, lc_str_t v) { snprintf(dst, cap, "%.*s", (int)v.n, v.p ? v.p : ""); }

static stub_cmd_t *record(lc_store_t *s, int post, lc_str_t room, lc_store_msg_cb *cb, void *arg) {
    stub_apistore_t *t = &s->st;
    if (t->down || t->ncmds == sizeof(t->cmds) / sizeof(t->cmds[0])) return NULL;
    stub_cmd_t *c = &t->cmds[t->ncmds++];
    memset(c, 0, sizeof(*c));
    c->post = post;
    copy(c->room, sizeof(c->room), room);
    c->cb = cb;
    c->arg = arg;
    return c;
}

int lc_store_post(lc_store_t *s, const lc_store_post_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_cmd_t *c = record(s, 1, r->room, cb, arg);
    if (!c) return -1;
    c->type = r->type;
    copy(c->text, sizeof(c->text), r->text);
    copy(c->sku, sizeof(c->sku), r->sku);
    copy(c->title, sizeof(c->title), r->title);
    copy(c->key, sizeof(c->key), r->key);
    c->price = (long long)r->price;
    c->key_ttl_s = r->key_ttl_s;
    c->cap = r->cap;
    return 0;
}

int lc_store_join(lc_store_t *s, const lc_store_join_req_t *r, lc_store_msg_cb *cb, void *arg) {
    stub_cmd_t *c = record(s, 0, r->room, cb, arg);
    if (!c) return -1;
    snprintf(c->shard, sizeof(c->shard), "%s", r->shard ? r->shard : "(null)");
    c->count = r->count;
    return 0;
}

void stub_apistore_answer(stub_apistore_t *s, size_t i, int status, const lc_msg_t *reply) {
    if (i >= s->ncmds) abort();
    s->cmds[i].cb(s->cmds[i].arg, status, reply);
}

/* Checkout and coupon calls of the API (api_shop.c): never sent here, so
 * their handlers answer 503 (black-box tests cover them against Redis). */
int lc_store_order_paid(lc_store_t *s, lc_str_t room, lc_str_t order, const char *shard, lc_store_msg_cb *cb,
                        void *arg) {
    (void)s, (void)room, (void)order, (void)shard, (void)cb, (void)arg;
    return -1;
}

int lc_store_order_get(lc_store_t *s, lc_str_t room, lc_str_t order, const char *shard, lc_store_msg_cb *cb,
                       void *arg) {
    (void)s, (void)room, (void)order, (void)shard, (void)cb, (void)arg;
    return -1;
}

int lc_store_coupon_drop(lc_store_t *s, const lc_store_coupon_drop_req_t *r, lc_store_msg_cb *cb, void *arg) {
    (void)s, (void)r, (void)cb, (void)arg;
    return -1;
}

int lc_store_lottery_get(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_store_msg_cb *cb, void *arg) {
    (void)s, (void)room, (void)lottery, (void)cb, (void)arg;
    return -1;
}

int lc_store_funnel(lc_store_t *s, const lc_store_funnel_req_t *r, lc_store_msg_cb *cb, void *arg) {
    (void)s, (void)r, (void)cb, (void)arg;
    return -1;
}
