/*
 * Flash sales and group-buys: the requests of a joined connection and
 * their answers. See sale.h.
 *
 * The scripts answer in protocol terms (an `order`, `group` or `cancelled`
 * message, or a `reply`): the answer goes to the requester as it came,
 * after the shard has counted it and marked the sku for publishing.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sale_req.h"
#include "sale_view.h"
#include "store.h"

/* A request in flight: answers go to the connection, changes to the room. */
typedef struct op {
    lc_conn_t *c;
    lc_room_t *room;
    lc_msg_type_t type;
    uint8_t skun, keyn, probe; /* probe: asks Redis for a sku heard sold out (sale_view.h) */
    char sku[65];
    char key[65]; /* the req, or the order id of a cancel */
} op_t;

static op_t *op_new(lc_conn_t *c, lc_msg_type_t type, lc_str_t sku, lc_str_t key) {
    op_t *o = calloc(1, sizeof(*o));
    if (!o) return NULL;
    o->c = lc_conn_ref(c);
    o->room = c->room;
    lc_room_ref(o->room);
    o->type = type;
    o->skun = (uint8_t)(sku.n > 64 ? 64 : sku.n);
    memcpy(o->sku, sku.p, o->skun);
    o->keyn = (uint8_t)(key.n > 64 ? 64 : key.n);
    memcpy(o->key, key.p, o->keyn);
    return o;
}

static void op_free(op_t *o) {
    lc_conn_unref(o->c);
    lc_room_unref(o->room);
    free(o);
}

static lc_str_t op_sku(const op_t *o) { return lc_str(o->sku, o->skun); }
static lc_str_t op_key(const op_t *o) { return lc_str(o->key, o->keyn); }

/* The status of a request Redis did not answer usefully: "unavailable" only
 * when it certainly did not run; else "unknown" -- it may have happened,
 * and the same req again tells the outcome (the scripts repeat their first
 * answer). Never "nothing happened" about something that happened. */
static const char *lost_status(int status) { return status == LC_STORE_REFUSED ? "unavailable" : "unknown"; }

/* Answers a buy or group_join with a status only (decided here). */
static void reply_status(lc_conn_t *c, lc_msg_type_t type, lc_str_t req, lc_str_t sku, const char *st) {
    lc_metrics_order(&c->srv->m, type != LC_MSG_BUY, st, strlen(st));
    lc_msg_t m;
    lc_msg_init(&m, type == LC_MSG_BUY ? LC_MSG_ORDER : LC_MSG_GROUP);
    lc_msg_set(&m, req, req);
    lc_msg_set(&m, sku, sku);
    lc_msg_set(&m, status, lc_cstr(st));
    lc_conn_send_msg(c, &m);
}

/* ---- answers ---- */

/* A buy's answer carries the units left (its sku's, as Redis has them now):
 * the sold-out mark follows it; a probe is over. */
static void heard_answer(op_t *o, const lc_msg_t *r) {
    sku_t *k = lc__sku_find(o->room, op_sku(o), 0);
    if (!k) return;
    if (o->probe) k->probe = 0;
    if (k->group) return;
    if (r && lc_msg_has(r, left)) lc__sku_heard_left(k, r->left, uv_now(o->c->srv->loop));
}

/* buy.lua answers an `order`, commerce.lua "join" a `group`. */
static void on_decided(void *arg, int status, const lc_msg_t *r) {
    op_t *o = arg;
    lc_msg_type_t want = o->type == LC_MSG_BUY ? LC_MSG_ORDER : LC_MSG_GROUP;
    if (status != LC_STORE_OK || r->type != want) {
        o->c->srv->m.redis_failures++;
        if (o->probe) heard_answer(o, NULL); /* no news: the next buy asks */
        reply_status(o->c, o->type, op_key(o), op_sku(o), lost_status(status));
        op_free(o);
        return;
    }
    lc_metrics_t *mt = &o->c->srv->m;
    lc_metrics_order(mt, o->type != LC_MSG_BUY, r->status.p, r->status.n);
    if (o->type == LC_MSG_BUY) heard_answer(o, r);
    /* a buy took stock (final or reserved); a join may have completed or dissolved teams */
    int took = lc_str_eq(r->status, "ok") || lc_str_eq(r->status, "reserved");
    if (o->type != LC_MSG_BUY || took) lc__sku_dirty(o->room, op_sku(o));
    lc_msg_t out = *r; /* count (bus only): this call, not a replay, redeemed a coupon */
    if (o->type == LC_MSG_BUY && took && lc_msg_has(r, count)) mt->coupons[LC_COUPON_USED]++;
    lc_msg_unset(&out, count);
    lc_conn_send_msg(o->c, &out);
    op_free(o);
}

/* commerce.lua "cancel" answers a `cancelled`. */
static void on_cancelled(void *arg, int status, const lc_msg_t *r) {
    op_t *o = arg;
    if (status != LC_STORE_OK || r->type != LC_MSG_CANCELLED) {
        o->c->srv->m.redis_failures++;
        lc_msg_t m;
        lc_msg_init(&m, LC_MSG_CANCELLED);
        lc_msg_set(&m, order, op_key(o));
        lc_msg_set(&m, status, lc_cstr(lost_status(status)));
        lc_conn_send_msg(o->c, &m);
    } else {
        if (lc_str_eq(r->status, "ok") && lc_msg_has(r, sku)) lc__sku_dirty(o->room, r->sku);
        if (lc_str_eq(r->status, "ok") && lc_msg_has(r, pay_by)) o->c->srv->m.reservations[LC_RES_CANCELLED]++;
        lc_conn_send_msg(o->c, r);
    }
    op_free(o);
}

/* open and close answer a `reply`: ok, exists, too_many or closed. On ok the room
 * hears it through the channel, the streamer included. */
static void on_admin_done(void *arg, int status, const lc_msg_t *r) {
    op_t *o = arg;
    lc_conn_t *c = o->c;
    if (!lc_conn_answer_lost(c, status, r, LC_MSG_REPLY,
                             "%s %.*s: no answer from storage, it may have happened: watch the room or send it again",
                             lc_msg_type_name(o->type), o->skun, o->sku)) {
        if (lc_str_eq(r->status, "exists"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "sale %.*s is already open", o->skun, o->sku);
        else if (lc_str_eq(r->status, "closed"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "no open sale %.*s", o->skun, o->sku);
        else if (lc_str_eq(r->status, "too_many"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "at most %d sales may be open in a room: close one first",
                               LC_STORE_MAX_OPEN_SALES);
    }
    op_free(o);
}

/* ---- requests ---- */

static int streamer_only(lc_conn_t *c, const char *what) {
    if (c->role == LC_ROLE_STREAMER) return 1;
    lc_conn_send_error(c, LC_ERR_FORBIDDEN, "only the streamer %s sales", what);
    return 0;
}

static void open_sale(lc_conn_t *c, const lc_msg_t *m) {
    if (!streamer_only(c, "opens")) return;
    int group = m->type == LC_MSG_GROUP_OPEN;
    lc_store_sale_open_req_t req = {
        .room = lc_room_name(c->room), .sku = m->sku, .title = m->title, .group = group,
        .price = m->price, .stock = m->stock, .limit = group ? 0 : lc_msg_has(m, limit) ? m->limit : 1,
        .size = group ? m->size : 0, .ttl_s = group ? m->ttl_s : 0,
        .pay_s = !group && lc_msg_has(m, pay_s) ? m->pay_s : 0,
    };
    op_t *o = op_new(c, m->type, m->sku, lc_str("", 0));
    if (!o || lc_store_sale_open(c->srv->store, &req, on_admin_done, o) != 0) {
        if (o) op_free(o);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
        return;
    }
    lc_store_note_sale_room(c->srv->store, lc_room_name(c->room));
}

static void close_sale(lc_conn_t *c, const lc_msg_t *m) {
    if (!streamer_only(c, "closes")) return;
    op_t *o = op_new(c, m->type, m->sku, lc_str("", 0));
    if (!o || lc_store_sale_close(c->srv->store, lc_room_name(c->room), m->sku, on_admin_done, o) != 0) {
        if (o) op_free(o);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    }
}

/* The checks every buy and join passes before Redis: 1 to go on (else
 * answered). */
static int may_request(lc_conn_t *c, const lc_msg_t *m) {
    if (!lc_conn_take_token(c)) {
        reply_status(c, m->type, m->req, m->sku, "rate_limited");
        lc_conn_limited(c);
        return 0;
    }
    int64_t qty = lc_msg_has(m, qty) ? m->qty : 1;
    if (!lc_ident_valid(m->sku.p, m->sku.n) || (m->type == LC_MSG_BUY && (qty < 1 || qty > 1000))) {
        reply_status(c, m->type, m->req, m->sku, "invalid");
        return 0;
    }
    if (m->type == LC_MSG_BUY && lc_msg_has(m, coupon) && !lc_ident_valid(m->coupon.p, m->coupon.n)) {
        reply_status(c, m->type, m->req, m->sku, "coupon_invalid"); /* no coupon has such an id */
        return 0;
    }
    return 1;
}

/* A buy this shard can answer without Redis (PROTOCOL.md "Sold out at the
 * shard"): "closed" for a sale heard closed, "sold_out" for one heard sold
 * out lately; NULL: Redis decides -- always for a re-send (retry), whose
 * first answer may be there. *probe: this buy asks again for a sell-out
 * heard too long ago (one at a time per sku). */
static const char *known_answer(lc_conn_t *c, const lc_msg_t *m, int *probe) {
    *probe = 0;
    if ((lc_msg_has(m, retry) && m->retry) || !c->srv->cfg.answer_sold_out) return NULL;
    sku_t *k = lc__sku_find(c->room, m->sku, 0);
    if (!k || k->group) return NULL;
    if (!k->open) return "closed";
    if (!k->out) return NULL;
    if (k->probe || uv_now(c->srv->loop) - k->out_at < LC_SALE_OUT_TRUST_MS) return "sold_out";
    *probe = k->probe = 1;
    return NULL;
}

static void buy(lc_conn_t *c, const lc_msg_t *m) {
    if (!may_request(c, m)) return;
    int probe;
    const char *known = known_answer(c, m, &probe);
    if (known) {
        c->srv->m.at_shard[LC_AT_SHARD_BUY]++;
        reply_status(c, m->type, m->req, m->sku, known);
        return;
    }
    const lc_config_t *cfg = &c->srv->cfg;
    lc_store_buy_req_t req = {
        .room = lc_room_name(c->room), .sku = m->sku, .user = lc_str(c->user, c->ulen), .req = m->req,
        .ip = lc_cstr(c->ip), .qty = lc_msg_has(m, qty) ? m->qty : 1, .shard = cfg->shard,
        .req_ttl_s = cfg->req_ttl_s, .ip_cap = cfg->sale_max_per_ip, .fast_ms = cfg->audit_fast_ms,
        .ip_users = cfg->audit_ip_users, .coupon = lc_msg_has(m, coupon) ? m->coupon : lc_str("", 0),
    };
    op_t *o = op_new(c, m->type, m->sku, m->req);
    if (!o || lc_store_buy(c->srv->store, &req, on_decided, o) != 0) {
        sku_t *k = probe ? lc__sku_find(c->room, m->sku, 0) : NULL;
        if (k) k->probe = 0; /* it did not go: the next buy asks */
        if (o) op_free(o);
        reply_status(c, m->type, m->req, m->sku, "unavailable");
        return;
    }
    o->probe = (uint8_t)probe;
}

static void group_join(lc_conn_t *c, const lc_msg_t *m) {
    if (!may_request(c, m)) return;
    lc_store_group_join_req_t req = {
        .room = lc_room_name(c->room), .user = lc_str(c->user, c->ulen), .req = m->req, .sku = m->sku,
        .team = lc_msg_has(m, team) ? m->team : lc_str("", 0), .shard = c->srv->cfg.shard,
        .req_ttl_s = c->srv->cfg.req_ttl_s,
    };
    op_t *o = op_new(c, m->type, m->sku, m->req);
    if (!o || lc_store_group_join(c->srv->store, &req, on_decided, o) != 0) {
        if (o) op_free(o);
        reply_status(c, m->type, m->req, m->sku, "unavailable");
    }
}

static void cancel(lc_conn_t *c, const lc_msg_t *m) {
    lc_msg_t r;
    lc_msg_init(&r, LC_MSG_CANCELLED);
    lc_msg_set(&r, order, m->order);
    if (!lc_conn_take_token(c)) {
        lc_msg_set(&r, status, lc_cstr("rate_limited"));
        lc_conn_send_msg(c, &r);
        lc_conn_limited(c);
        return;
    }
    lc_store_cancel_req_t req = {
        .room = lc_room_name(c->room), .user = lc_str(c->user, c->ulen), .order = m->order,
        .window_ms = (int64_t)c->srv->cfg.cancel_window_s * 1000, .shard = c->srv->cfg.shard,
    };
    op_t *o = op_new(c, m->type, lc_str("", 0), m->order);
    if (!o || lc_store_cancel(c->srv->store, &req, on_cancelled, o) != 0) {
        if (o) op_free(o);
        lc_msg_set(&r, status, lc_cstr("unavailable"));
        lc_conn_send_msg(c, &r);
    }
}

void lc__sale_on_message(lc_conn_t *c, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_SALE_OPEN:
    case LC_MSG_GROUP_OPEN: open_sale(c, m); break;
    case LC_MSG_SALE_CLOSE: close_sale(c, m); break;
    case LC_MSG_BUY: buy(c, m); break;
    case LC_MSG_GROUP_JOIN: group_join(c, m); break;
    case LC_MSG_CANCEL: cancel(c, m); break;
    default: break;
    }
}
