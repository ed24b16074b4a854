/*
 * Flash sales and group-buys on one shard. See sale.h.
 *
 * Stock counts reach every shard through the room's channel, but not one
 * message per buy: a shard that changed a sku's stock (a buy, a cancel, a
 * completed team) marks it dirty, and at its next tick asks commerce.lua
 * ("pub") to publish the current count if it differs from the last one
 * published. A burst of buys costs one channel message per shard per tick,
 * and the last change is always published by the shard that made it, so
 * every shard converges on the same final number.
 */
#include "sale.h"

#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "log.h"
#include "room.h"
#include "session.h"

typedef struct sku {
    struct sku *next;
    uint8_t n, group, open, sold_out_sent, dirty, pub_busy;
    char id[65];
    char title[201];
    int64_t price, limit, size, ttl_s;
    int64_t left, left_sent, teams, waiting, teams_sent, waiting_sent;
} sku_t;

struct lc_sales {
    sku_t *skus;
    uint64_t next_expire;
    uint8_t expire_busy;
};

/* A request in flight: answers go to the connection, changes to the room. */
typedef struct op {
    lc_conn_t *c;
    lc_room_t *room;
    lc_msg_type_t type;
    uint8_t skun, reqn;
    char sku[65];
    char req[65];
} op_t;

/* ---- the room's view of its skus ---- */

static lc_sales_t *sales_of(lc_room_t *r, int create) {
    lc_sales_t **s = lc_room_sales(r);
    if (!*s && create) *s = calloc(1, sizeof(lc_sales_t));
    return *s;
}

static sku_t *sku_find(lc_room_t *r, const char *id, size_t n, int create) {
    lc_sales_t *s = sales_of(r, create);
    if (!s || n == 0 || n > 64) return NULL;
    for (sku_t *k = s->skus; k; k = k->next)
        if (k->n == n && memcmp(k->id, id, n) == 0) return k;
    if (!create) return NULL;
    sku_t *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    memcpy(k->id, id, n);
    k->n = (uint8_t)n;
    k->open = 1;
    k->left_sent = k->teams_sent = k->waiting_sent = -1;
    k->next = s->skus;
    s->skus = k;
    return k;
}

static void sku_remove(lc_room_t *r, sku_t *k) {
    lc_sales_t *s = sales_of(r, 0);
    for (sku_t **p = &s->skus; *p; p = &(*p)->next) {
        if (*p == k) {
            *p = k->next;
            free(k);
            return;
        }
    }
}

void lc_sale_free(lc_sales_t *s) {
    if (!s) return;
    while (s->skus) {
        sku_t *k = s->skus;
        s->skus = k->next;
        free(k);
    }
    free(s);
}

static void set_title(sku_t *k, const char *t, size_t n) {
    if (n >= sizeof(k->title)) n = sizeof(k->title) - 1;
    memcpy(k->title, t, n);
    k->title[n] = '\0';
}

/* ---- answers to the requester ---- */

static op_t *op_new(lc_conn_t *c, lc_msg_type_t type, lc_str_t sku, lc_str_t req) {
    op_t *o = calloc(1, sizeof(*o));
    if (!o) return NULL;
    o->c = lc_conn_ref(c);
    o->room = c->room;
    lc_room_ref(o->room);
    o->type = type;
    o->skun = (uint8_t)(sku.n > 64 ? 64 : sku.n);
    memcpy(o->sku, sku.p, o->skun);
    o->reqn = (uint8_t)(req.n > 64 ? 64 : req.n);
    memcpy(o->req, req.p, o->reqn);
    return o;
}

static void op_free(op_t *o) {
    lc_conn_unref(o->c);
    lc_room_unref(o->room);
    free(o);
}

/* The reply message for a buy or group_join request, with its status. */
static void reply_init(lc_msg_t *m, lc_msg_type_t type, lc_str_t req, lc_str_t sku, const char *st) {
    lc_msg_init(m, type == LC_MSG_BUY ? LC_MSG_ORDER : LC_MSG_GROUP);
    lc_msg_set(m, req, req);
    lc_msg_set(m, sku, sku);
    lc_msg_set(m, status, lc_cstr(st));
}

static void reply_status(lc_conn_t *c, lc_msg_type_t type, lc_str_t req, lc_str_t sku, const char *st) {
    lc_msg_t m;
    lc_metrics_order(&c->srv->m, type != LC_MSG_BUY, st, strlen(st));
    reply_init(&m, type, req, sku, st);
    lc_conn_send_msg(c, &m);
}

static lc_str_t val_str(const lc_store_val_t *v) { return v->s ? lc_str(v->s, v->n) : lc_str("", 0); }

/* The status of a request Redis did not answer usefully: "unavailable" only
 * when it certainly did not run; else "unknown" -- it may have happened,
 * and the same req again tells the outcome (the scripts repeat their first
 * answer). Never "nothing happened" about something that happened. */
static const char *lost_status(int status) { return status == LC_STORE_REFUSED ? "unavailable" : "unknown"; }

static void mark_dirty(lc_room_t *r, const char *id, size_t n) {
    sku_t *k = sku_find(r, id, n, 1);
    if (k) k->dirty = 1;
}

/* buy.lua answers {status, order, qty, left}; commerce.lua "join" answers
 * {status, team, members, size, left}. */
static void on_request_done(void *arg, int status, const lc_store_val_t *v, size_t n) {
    op_t *o = arg;
    lc_str_t req = lc_str(o->req, o->reqn), sku = lc_str(o->sku, o->skun);
    if (status != 0 || n < 4 || !v[0].s) {
        o->c->srv->m.redis_failures++;
        reply_status(o->c, o->type, req, sku, lost_status(status));
        op_free(o);
        return;
    }
    lc_msg_t m;
    lc_str_t st = val_str(&v[0]);
    lc_metrics_order(&o->c->srv->m, o->type != LC_MSG_BUY, st.p, st.n);
    char stbuf[33];
    snprintf(stbuf, sizeof(stbuf), "%.*s", (int)(st.n > 32 ? 32 : st.n), st.p);
    reply_init(&m, o->type, req, sku, stbuf);
    if (o->type == LC_MSG_BUY) {
        if (lc_str_eq(st, "ok")) {
            lc_msg_set(&m, order, val_str(&v[1]));
            lc_msg_set(&m, qty, v[2].i);
            mark_dirty(o->room, o->sku, o->skun);
        }
        if (!v[3].s && v[3].i >= 0) lc_msg_set(&m, left, v[3].i);
    } else if (n >= 5) {
        if (v[1].n) lc_msg_set(&m, team, val_str(&v[1]));
        if (!v[2].s && v[2].i > 0) lc_msg_set(&m, members, v[2].i);
        if (!v[3].s && v[3].i > 0) lc_msg_set(&m, size, v[3].i);
        if (!v[4].s && v[4].i >= 0) lc_msg_set(&m, left, v[4].i);
        /* a join may also have dissolved overdue teams: publish counts */
        mark_dirty(o->room, o->sku, o->skun);
    }
    lc_conn_send_msg(o->c, &m);
    op_free(o);
}

/* Answers {status, sku, qty, left}. */
static void on_cancel_done(void *arg, int status, const lc_store_val_t *v, size_t n) {
    op_t *o = arg;
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_CANCELLED);
    lc_msg_set(&m, order, lc_str(o->req, o->reqn));
    if (status != 0 || n < 4 || !v[0].s) {
        o->c->srv->m.redis_failures++;
        lc_msg_set(&m, status, lc_cstr(lost_status(status)));
    } else {
        lc_msg_set(&m, status, val_str(&v[0]));
        if (v[1].n) {
            lc_msg_set(&m, sku, val_str(&v[1]));
            lc_msg_set(&m, qty, v[2].i);
            lc_msg_set(&m, left, v[3].i);
        }
        if (lc_str_eq(val_str(&v[0]), "ok")) mark_dirty(o->room, v[1].s, v[1].n);
    }
    lc_conn_send_msg(o->c, &m);
    op_free(o);
}

/* Answers {"ok"} or {"exists"} / {"closed"}. */
static void on_admin_done(void *arg, int status, const lc_store_val_t *v, size_t n) {
    op_t *o = arg;
    if (status == LC_STORE_REFUSED) {
        o->c->srv->m.redis_failures++;
        lc_conn_send_error(o->c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    } else if (status != 0 || n < 1 || !v[0].s) {
        o->c->srv->m.redis_failures++;
        lc_conn_send_error(o->c, LC_ERR_UNKNOWN, "%s %.*s: no answer from storage, it may have happened: "
                           "watch the room or send it again", lc_msg_type_name(o->type), o->skun, o->sku);
    } else if (lc_str_eq(val_str(&v[0]), "exists")) {
        lc_conn_send_error(o->c, LC_ERR_BAD_REQUEST, "sale %.*s is already open", o->skun, o->sku);
    } else if (lc_str_eq(val_str(&v[0]), "closed")) {
        lc_conn_send_error(o->c, LC_ERR_BAD_REQUEST, "no open sale %.*s", o->skun, o->sku);
    }
    /* on ok the room hears it through the channel, the streamer included */
    op_free(o);
}

/* ---- requests ---- */

/* A token bucket per connection for buys, cancels and joins: scripted
 * bursts are answered here and never reach Redis. On 0 the caller answers
 * rate_limited and then calls refused(), which closes a client that keeps
 * going (after the answer, so that it still gets it). */
static int take_token(lc_conn_t *c) {
    const lc_config_t *cfg = &c->srv->cfg;
    if (lc_bucket_take(&c->b_buy, cfg->buy_rate, cfg->buy_burst, uv_now(c->srv->loop))) {
        c->limited = 0;
        return 1;
    }
    c->srv->m.errors[LC_ERR_RATE_LIMITED]++; /* answered with a status, not an error frame */
    return 0;
}

static void refused(lc_conn_t *c) { lc_session_limited(c); }

static int send_op(lc_conn_t *c, op_t *o, const char *op, const lc_store_val_t *a, size_t n,
                   lc_store_vals_cb *cb) {
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    if (!o) return -1;
    if (lc_store_commerce(c->srv->store, room, rn, op, a, n, cb, o) != 0) {
        op_free(o);
        return -1;
    }
    return 0;
}

#define S(x) {(x).p, (x).n, 0}
#define I(x) {NULL, 0, (x)}
#define CS(x) {(x), sizeof(x) - 1, 0}

static void open_sale(lc_conn_t *c, const lc_msg_t *m, int group) {
    if (c->role != LC_ROLE_STREAMER) {
        lc_conn_send_error(c, LC_ERR_FORBIDDEN, "only the streamer opens sales");
        return;
    }
    int64_t limit = lc_msg_has(m, limit) ? m->limit : 1;
    lc_store_val_t a[] = {S(m->sku),  {group ? "group" : "sale", group ? 5 : 4, 0},
                          S(m->title), I(m->price), I(m->stock), I(limit),
                          I(group ? m->size : 0), I(group ? m->ttl_s : 0)};
    op_t *o = op_new(c, m->type, m->sku, lc_str("", 0));
    if (send_op(c, o, "open", a, 8, on_admin_done) != 0) {
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
        return;
    }
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    lc_store_note_sale_room(c->srv->store, room, rn);
}

static void close_sale(lc_conn_t *c, const lc_msg_t *m) {
    if (c->role != LC_ROLE_STREAMER) {
        lc_conn_send_error(c, LC_ERR_FORBIDDEN, "only the streamer closes sales");
        return;
    }
    lc_store_val_t a[] = {S(m->sku)};
    if (send_op(c, op_new(c, m->type, m->sku, lc_str("", 0)), "close", a, 1, on_admin_done) != 0)
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
}

static void buy(lc_conn_t *c, const lc_msg_t *m) {
    int64_t qty = lc_msg_has(m, qty) ? m->qty : 1;
    if (!take_token(c)) {
        reply_status(c, m->type, m->req, m->sku, "rate_limited");
        refused(c);
        return;
    }
    if (!lc_ident_valid(m->sku.p, m->sku.n) || qty < 1 || qty > 1000) {
        reply_status(c, m->type, m->req, m->sku, "invalid");
        return;
    }
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    const lc_config_t *cfg = &c->srv->cfg;
    lc_store_buy_req_t br = {m->sku.p, c->user, m->req.p, c->ip, m->sku.n, c->ulen, m->req.n, qty,
                             cfg->shard, cfg->req_ttl_s, cfg->sale_max_per_ip, cfg->audit_fast_ms,
                             cfg->audit_ip_users};
    op_t *o = op_new(c, m->type, m->sku, m->req);
    if (!o || lc_store_buy(c->srv->store, room, rn, &br, on_request_done, o) != 0) {
        if (o) op_free(o);
        reply_status(c, m->type, m->req, m->sku, "unavailable");
    }
}

static void group_join(lc_conn_t *c, const lc_msg_t *m) {
    if (!take_token(c)) {
        reply_status(c, m->type, m->req, m->sku, "rate_limited");
        refused(c);
        return;
    }
    if (!lc_ident_valid(m->sku.p, m->sku.n)) {
        reply_status(c, m->type, m->req, m->sku, "invalid");
        return;
    }
    lc_store_val_t a[] = {{c->user, c->ulen, 0}, S(m->req), S(m->sku),
                          lc_msg_has(m, team) ? (lc_store_val_t)S(m->team) : (lc_store_val_t)CS(""),
                          {c->srv->cfg.shard, strlen(c->srv->cfg.shard), 0},
                          I((int64_t)c->srv->cfg.req_ttl_s)};
    if (send_op(c, op_new(c, m->type, m->sku, m->req), "join", a, 6, on_request_done) != 0)
        reply_status(c, m->type, m->req, m->sku, "unavailable");
}

static void cancel(lc_conn_t *c, const lc_msg_t *m) {
    lc_msg_t r;
    lc_msg_init(&r, LC_MSG_CANCELLED);
    lc_msg_set(&r, order, m->order);
    if (!take_token(c)) {
        lc_msg_set(&r, status, lc_cstr("rate_limited"));
        lc_conn_send_msg(c, &r);
        refused(c);
        return;
    }
    lc_store_val_t a[] = {{c->user, c->ulen, 0}, S(m->order),
                          I((int64_t)c->srv->cfg.cancel_window_s * 1000),
                          {c->srv->cfg.shard, strlen(c->srv->cfg.shard), 0}};
    /* the op's req slot carries the order id for the answer */
    if (send_op(c, op_new(c, m->type, lc_str("", 0), m->order), "cancel", a, 4, on_cancel_done) != 0) {
        lc_msg_set(&r, status, lc_cstr("unavailable"));
        lc_conn_send_msg(c, &r);
    }
}

void lc_sale_handle(lc_conn_t *c, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_SALE_OPEN: open_sale(c, m, 0); break;
    case LC_MSG_GROUP_OPEN: open_sale(c, m, 1); break;
    case LC_MSG_SALE_CLOSE: close_sale(c, m); break;
    case LC_MSG_BUY: buy(c, m); break;
    case LC_MSG_GROUP_JOIN: group_join(c, m); break;
    case LC_MSG_CANCEL: cancel(c, m); break;
    default: break;
    }
}

/* ---- the channel ---- */

typedef struct deliver {
    lc_msg_t *msg;
    lc_str_t user;
} deliver_t;

static void deliver_to_user(lc_conn_t *c, void *arg) {
    deliver_t *d = arg;
    if (c->ulen == d->user.n && memcmp(c->user, d->user.p, d->user.n) == 0) lc_conn_send_msg(c, d->msg);
}

/* A team finished (done or dissolved): tell each member's connections here. */
static void team_result(lc_room_t *r, const lc_msg_t *m) {
    for (size_t i = 0; i < m->entries.n; i++) {
        const lc_msg_t *e = &m->entries.items[i];
        lc_msg_t out;
        lc_msg_init(&out, m->type == LC_MSG_TEAM_DONE ? LC_MSG_GROUP_DONE : LC_MSG_GROUP_FAILED);
        lc_msg_set(&out, team, m->team);
        lc_msg_set(&out, sku, m->sku);
        if (m->type == LC_MSG_TEAM_DONE) {
            if (!lc_msg_has(e, order)) continue;
            lc_msg_set(&out, order, e->order);
        }
        deliver_t d = {&out, e->user};
        lc_room_foreach_joined(r, deliver_to_user, &d);
    }
}

int lc_sale_on_bus(lc_room_t *r, const lc_msg_t *m) {
    sku_t *k;
    switch (m->type) {
    case LC_MSG_SALE:
    case LC_MSG_GROUP_SALE:
        if (!(k = sku_find(r, m->sku.p, m->sku.n, 1))) return 1;
        k->group = m->type == LC_MSG_GROUP_SALE;
        k->open = 1;
        set_title(k, m->title.p, m->title.n);
        k->price = m->price;
        k->left = k->left_sent = m->stock;
        k->limit = k->group ? 0 : m->limit;
        k->size = k->group ? m->size : 0;
        k->ttl_s = k->group ? m->ttl_s : 0;
        k->teams = k->waiting = k->teams_sent = k->waiting_sent = 0;
        k->sold_out_sent = 0;
        lc_room_broadcast(r, m);
        return 1;
    case LC_MSG_STOCK:
        if ((k = sku_find(r, m->sku.p, m->sku.n, 1))) k->left = m->left;
        return 1;
    case LC_MSG_TEAMS:
        if ((k = sku_find(r, m->sku.p, m->sku.n, 1))) {
            k->teams = m->teams;
            k->waiting = m->waiting;
        }
        return 1;
    case LC_MSG_SALE_CLOSED:
        if ((k = sku_find(r, m->sku.p, m->sku.n, 0)) && !k->dirty && !k->pub_busy) sku_remove(r, k);
        else if (k) k->open = 0;
        lc_room_broadcast(r, m);
        return 1;
    case LC_MSG_TEAM_DONE:
    case LC_MSG_TEAM_FAILED:
        team_result(r, m);
        return 1;
    default:
        return 0;
    }
}

/* ---- the tick ---- */

typedef struct room_arg {
    lc_room_t *room;
    sku_t *sku; /* "pub": stays allocated while pub_busy */
} room_arg_t;

static void on_pub_done(void *arg, int status, const lc_store_val_t *v, size_t n) {
    room_arg_t *a = arg;
    a->sku->pub_busy = 0;
    if (status != 0) a->sku->dirty = 1; /* publish again next tick */
    lc_room_unref(a->room);
    free(a);
}

/* Marks every group sku dirty: team counts may have changed. */
static void groups_dirty(lc_room_t *r) {
    lc_sales_t *s = sales_of(r, 0);
    for (sku_t *k = s ? s->skus : NULL; k; k = k->next)
        if (k->group) k->dirty = 1;
}

static void on_expire_done(void *arg, int status, const lc_store_val_t *v, size_t n) {
    room_arg_t *a = arg;
    lc_sales_t *s = sales_of(a->room, 0);
    if (s) s->expire_busy = 0;
    if (status == 0 && n >= 2 && !v[1].s && v[1].i > 0) groups_dirty(a->room); /* teams dissolved */
    lc_room_unref(a->room);
    free(a);
}

/* Runs one commerce op for the room itself (not for a connection). */
static int room_op(lc_room_t *r, sku_t *k, const char *op, const lc_store_val_t *a, size_t n,
                   lc_store_vals_cb *cb) {
    lc_server_t *srv = lc_room_server(r);
    room_arg_t *arg = malloc(sizeof(*arg));
    if (!arg) return -1;
    arg->room = r;
    arg->sku = k;
    lc_room_ref(r);
    size_t rn;
    const char *room = lc_room_name(r, &rn);
    if (lc_store_commerce(srv->store, room, rn, op, a, n, cb, arg) != 0) {
        lc_room_unref(r);
        free(arg);
        return -1;
    }
    return 0;
}

static void broadcast_changes(lc_room_t *r, sku_t *k) {
    lc_msg_t m;
    lc_str_t id = lc_str(k->id, k->n);
    if (k->left != k->left_sent) {
        lc_msg_init(&m, LC_MSG_STOCK);
        lc_msg_set(&m, sku, id);
        lc_msg_set(&m, left, k->left);
        lc_room_broadcast(r, &m);
        k->left_sent = k->left;
    }
    if (k->left > 0) {
        k->sold_out_sent = 0;
    } else if (!k->sold_out_sent && k->open) {
        lc_msg_init(&m, LC_MSG_SOLD_OUT);
        lc_msg_set(&m, sku, id);
        lc_room_broadcast(r, &m);
        k->sold_out_sent = 1;
    }
    if (k->group && (k->teams != k->teams_sent || k->waiting != k->waiting_sent)) {
        lc_msg_init(&m, LC_MSG_TEAMS);
        lc_msg_set(&m, sku, id);
        lc_msg_set(&m, teams, k->teams);
        lc_msg_set(&m, waiting, k->waiting);
        lc_room_broadcast(r, &m);
        k->teams_sent = k->teams;
        k->waiting_sent = k->waiting;
    }
}

void lc_sale_tick(lc_room_t *r, uint64_t now) {
    lc_sales_t *s = sales_of(r, 0);
    if (!s) return;
    int groups = 0;
    sku_t *k = s->skus, *next;
    for (; k; k = next) {
        next = k->next;
        broadcast_changes(r, k);
        groups |= k->group && k->open;
        if (k->dirty && !k->pub_busy) {
            lc_store_val_t a[] = {{k->id, k->n, 0}};
            k->dirty = 0;
            k->pub_busy = 1;
            if (room_op(r, k, "pub", a, 1, on_pub_done) != 0) {
                k->dirty = 1;
                k->pub_busy = 0;
            }
        } else if (!k->open && !k->dirty && !k->pub_busy) {
            sku_remove(r, k);
        }
    }
    /* Teams past their deadline dissolve even if nobody joins any more
     * (joins dissolve them too). Once a second is precise enough. */
    if (groups && !s->expire_busy && now >= s->next_expire) {
        s->next_expire = now + 1000;
        if (room_op(r, NULL, "expire", NULL, 0, on_expire_done) == 0) s->expire_busy = 1;
    }
}

int lc_sale_pending(lc_room_t *r) {
    lc_sales_t *s = sales_of(r, 0);
    for (sku_t *k = s ? s->skus : NULL; k; k = k->next)
        if (k->dirty || k->pub_busy) return 1;
    return s && s->expire_busy;
}

/* ---- welcome ---- */

int lc_sale_welcome(lc_room_t *r, const lc_store_join_t *res, lc_msg_t **items, size_t *n) {
    *items = NULL;
    *n = 0;
    if (!res->nsales) return 0;
    lc_msg_t *it = calloc(res->nsales, sizeof(*it));
    if (!it) return -1;
    for (size_t i = 0; i < res->nsales; i++) {
        const lc_store_sale_t *sa = &res->sales[i];
        int group = lc_str_eq(lc_str(sa->kind, sa->kind_n), "group");
        if (!lc_ident_valid(sa->sku, sa->sku_n) || sa->title_n < 1 || sa->title_n > 200 ||
            !lc_utf8_valid(sa->title, sa->title_n))
            continue; /* not ours: skip rather than fail every welcome */
        lc_msg_t *m = &it[(*n)++];
        lc_msg_init(m, group ? LC_MSG_GROUP_SALE : LC_MSG_SALE);
        lc_msg_set(m, sku, lc_str(sa->sku, sa->sku_n));
        lc_msg_set(m, title, lc_str(sa->title, sa->title_n));
        lc_msg_set(m, price, sa->price);
        lc_msg_set(m, stock, sa->left);
        if (sa->total >= sa->left) lc_msg_set(m, total, sa->total);
        if (group) {
            lc_msg_set(m, size, sa->size);
            lc_msg_set(m, ttl_s, sa->ttl_s);
            lc_msg_set(m, teams, sa->teams);
        } else {
            lc_msg_set(m, limit, sa->limit);
        }
        /* a sku this shard has not heard of yet: start its view here */
        sku_t *k = sku_find(r, sa->sku, sa->sku_n, 0);
        if (!k && (k = sku_find(r, sa->sku, sa->sku_n, 1))) {
            k->group = (uint8_t)group;
            set_title(k, sa->title, sa->title_n);
            k->price = sa->price;
            k->left = k->left_sent = sa->left;
            k->limit = sa->limit;
            k->size = sa->size;
            k->ttl_s = sa->ttl_s;
            k->teams = k->teams_sent = sa->teams;
            k->sold_out_sent = sa->left == 0;
        }
    }
    *items = it;
    return 0;
}
