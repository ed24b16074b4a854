/*
 * The publish API. A request is lc_http's (lc_http_req_t); what the API
 * keeps about it -- the room, the Idempotency-Key, a refusal decided
 * before the body -- lives in the request's lc_http_data block, freed with
 * it. Answers that need Redis come back by callback: the request is
 * deferred first (lc_http_defer), then the command sent; the callback
 * answers it, or drops it if its client went away meanwhile.
 *
 * The key is never compared as a string: both sides are hashed (SHA-256)
 * and the digests compared with CRYPTO_memcmp, so neither the key's
 * content nor its length leaks through timing.
 *
 * A POST whose Redis reply is lost answers 504, not 503: 503 says "nothing
 * was written, retry" (haproxy retries it), and this post may have been.
 */
#include "api.h"
#include "api_reply.h"
#include "api_shop.h"
#include "api_stats.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keyfile.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define API_MAX_BODY 4096
/* A body up to this size is read and dropped before a 413, so the client
 * gets its answer rather than a reset; a larger one is cut at once. */
#define API_DRAIN_MAX (1u << 20)
#define API_KEY_MAX LC_API_KEY_MAX
#define KEY_FILE_MAX 1024 /* the API key itself */
#define AUTH_MAX (KEY_FILE_MAX + 64) /* an Authorization header worth hashing */

struct lc_api {
    int on; /* a key is configured */
    unsigned char key_hash[SHA256_DIGEST_LENGTH];
};

typedef enum { API_NONE, API_ROOM, API_MESSAGES, API_ORDER, API_PAID, API_LOTTERY, API_STATS } api_path_t;
typedef lc_api_req_t api_req_t;

static void paid_request(lc_server_t *srv, api_req_t *r, lc_http_req_t *q);

lc_api_t *lc_api_create(const lc_config_t *cfg) {
    uint8_t key[KEY_FILE_MAX];
    size_t n = 0;
    const char *env = getenv("LIVECART_API_KEY");
    if (cfg->api_key_file[0]) {
        if (lc_keyfile_read(cfg->api_key_file, key, sizeof(key), &n) != 0) return NULL; /* it said why */
    } else if (env && *env) {
        n = strlen(env);
        if (n > sizeof(key)) {
            lc_log("LIVECART_API_KEY is longer than %zu bytes", sizeof(key));
            return NULL;
        }
        memcpy(key, env, n);
    }
    lc_api_t *api = calloc(1, sizeof(*api));
    if (!api || (n && !SHA256(key, n, api->key_hash))) {
        lc_log("publish API: out of memory");
        OPENSSL_cleanse(key, sizeof(key));
        free(api);
        return NULL;
    }
    OPENSSL_cleanse(key, sizeof(key));
    api->on = n > 0;
    if (api->on)
        lc_log("publish API on: POST /api/rooms/ROOM/messages, GET /api/rooms/ROOM, GET /api/rooms/ROOM/orders/ID, "
               "POST /api/rooms/ROOM/orders/ID/paid (key from %s)",
               cfg->api_key_file[0] ? cfg->api_key_file : "LIVECART_API_KEY");
    else
        lc_log("publish API off (no --api-key-file, no LIVECART_API_KEY)");
    return api;
}

void lc_api_destroy(lc_api_t *api) {
    if (!api) return;
    OPENSSL_cleanse(api, sizeof(*api));
    free(api);
}

static int authorized(const lc_api_t *api, const lc_http_req_t *q) {
    char h[AUTH_MAX];
    int ok = 0, n = lc_http_header(q, "authorization", h, sizeof(h));
    if (n >= 8 && strncasecmp(h, "Bearer ", 7) == 0) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        ok = SHA256((const unsigned char *)h + 7, (size_t)n - 7, d) && CRYPTO_memcmp(d, api->key_hash, sizeof(d)) == 0;
    }
    OPENSSL_cleanse(h, sizeof(h));
    return ok;
}

/* Parses "/api/rooms/ROOM", "/api/rooms/ROOM/messages",
 * "/api/rooms/ROOM/orders/ORDER", "/api/rooms/ROOM/orders/ORDER/paid" and
 * "/api/rooms/ROOM/lotteries/ID", "/api/rooms/ROOM/stats" into r's room and
 * order (or lottery id). */
static api_path_t route(const char *path, api_req_t *r) {
    static const char pre[] = "/api/rooms/", orders[] = "/orders/";
    if (strncmp(path, pre, sizeof(pre) - 1) != 0) return API_NONE;
    const char *p = path + sizeof(pre) - 1, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!lc_ident_valid(p, n)) return API_NONE;
    memcpy(r->room, p, n);
    r->room[n] = '\0';
    r->rn = n;
    if (!slash) return API_ROOM;
    if (strcmp(slash, "/messages") == 0) return API_MESSAGES;
    if (strcmp(slash, "/stats") == 0) return API_STATS;
    static const char lots[] = "/lotteries/";
    if (strncmp(slash, lots, sizeof(lots) - 1) == 0) {
        const char *id = slash + sizeof(lots) - 1;
        size_t idn = strlen(id);
        if (!lc_ident_valid(id, idn)) return API_NONE;
        memcpy(r->order, id, idn + 1);
        r->on = idn;
        return API_LOTTERY;
    }
    if (strncmp(slash, orders, sizeof(orders) - 1) != 0) return API_NONE;
    const char *o = slash + sizeof(orders) - 1, *end = strchr(o, '/');
    size_t on = end ? (size_t)(end - o) : strlen(o);
    lc_sid_t id;
    if (on >= sizeof(r->order) || lc_sid_parse(&id, o, on) != 0) return API_NONE;
    memcpy(r->order, o, on);
    r->order[on] = '\0';
    r->on = on;
    if (!end) return API_ORDER;
    return strcmp(end, "/paid") == 0 ? API_PAID : API_NONE;
}

/* Copies the request's Idempotency-Key into key (API_KEY_MAX + 1 bytes):
 * 0 (absent: ""), or -1 when it is empty, too long or not visible ASCII. */
static int idempotency_key(const lc_http_req_t *q, char *key) {
    int n = lc_http_header(q, "idempotency-key", key, API_KEY_MAX + 1);
    if (n < 1) key[0] = '\0';
    if (n == -1) return 0;
    if (n < 1) return -1; /* empty, or too long */
    for (int i = 0; i < n; i++)
        if (key[i] <= ' ' || key[i] > '~') return -1;
    return 0;
}

/* The status a POST is refused with, from what lc_http says of its body
 * (0, or 400/411/413) and what was decided before it. Framing errors come
 * first (the request is not even well-formed), then a missing key (401 even
 * for a body that is too large: say nothing else to a stranger), then the
 * size, then a malformed Idempotency-Key. */
static unsigned refusal(unsigned refuse, unsigned body_status) {
    if (body_status == 400 || body_status == 411) return body_status;
    if (refuse == 401) return 401;
    if (body_status) return body_status;
    return refuse;
}

/* ---- GET /api/rooms/ROOM ---- */

static json_t *sale_json(const lc_msg_t *s) {
    int group = s->type == LC_MSG_GROUP_SALE;
    json_t *o = json_pack("{s:s,s:s%,s:s%,s:I,s:I,s:I}", "kind", group ? "group" : "sale", "sku", s->sku.p, s->sku.n,
                          "title", s->title.p, s->title.n, "price", (json_int_t)s->price, "stock",
                          (json_int_t)s->stock, "total", (json_int_t)s->total);
    int err = !o;
    if (o && group)
        err = json_object_set_new(o, "size", json_integer(s->size)) ||
              json_object_set_new(o, "ttl_s", json_integer(s->ttl_s)) ||
              json_object_set_new(o, "teams", json_integer(s->teams));
    else if (o)
        err = json_object_set_new(o, "limit", json_integer(s->limit)) ||
              (lc_msg_has(s, pay_s) && json_object_set_new(o, "pay_s", json_integer(s->pay_s)));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The answer to GET /api/rooms/ROOM from join.lua's room_state: open sales
 * as {"kind":"sale"|"group", ...} (other items are not sales: skipped).
 * NULL when out of memory. */
static json_t *room_json(const api_req_t *r, const lc_msg_t *st) {
    json_t *sales = json_array();
    for (size_t i = 0; sales && i < st->sales.n; i++) {
        const lc_msg_t *s = &st->sales.items[i];
        if (s->type != LC_MSG_SALE && s->type != LC_MSG_GROUP_SALE) continue;
        json_t *o = sale_json(s);
        if (!o || json_array_append_new(sales, o) != 0) {
            json_decref(sales);
            sales = NULL;
        }
    }
    if (!sales) return NULL;
    lc_str_t last = st->last.n ? st->last : lc_str("0-0", 3);
    return json_pack("{s:s%,s:I,s:I,s:s%,s:o}", "room", r->room, r->rn, "viewers", (json_int_t)st->viewers, "likes",
                     (json_int_t)st->likes, "last", last.p, last.n, "sales", sales);
}

static void on_room(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    api_req_t *r = lc__api_read_answer(q, rc, reply, LC_MSG_ROOM_STATE); /* a GET: any failure is "retry" */
    if (!r) return;
    lc__api_json(r->srv, q, 200, room_json(r, reply));
}

static void get_room(api_req_t *r, lc_http_req_t *q) {
    lc_store_join_req_t jr = {.room = lc_str(r->room, r->rn), .shard = ""}; /* "": every shard's viewers */
    if (lc_http_defer(q) != 0 || lc_store_join(r->srv->store, &jr, on_room, q) != 0) lc__api_fail(r->srv, q, 503);
}

/* ---- POST /api/rooms/ROOM/messages ---- */

/* Validates a JSON body into the post's type and fields (pointing into j).
 * Returns NULL, or the reason it is refused. */
static const char *parse_body(json_t *j, lc_store_post_req_t *p) {
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!json_is_object(j) || !type) return "body must be a JSON object with a type";
    if (strcmp(type, "announce") == 0) {
        json_t *t = json_object_get(j, "text");
        size_t n = json_string_length(t);
        if (!json_is_string(t) || n < 1 || n > 500) return "announce needs text, 1-500 bytes";
        p->type = LC_MSG_ANNOUNCE;
        p->text = lc_str(json_string_value(t), n);
        return NULL;
    }
    if (strcmp(type, "product") == 0) {
        json_t *sku = json_object_get(j, "sku"), *title = json_object_get(j, "title"),
               *price = json_object_get(j, "price");
        size_t sn = json_string_length(sku), tn = json_string_length(title);
        if (!json_is_string(sku) || !lc_ident_valid(json_string_value(sku), sn))
            return "product needs sku, 1-64 of [A-Za-z0-9_-]";
        if (!json_is_string(title) || tn < 1 || tn > 200) return "product needs title, 1-200 bytes";
        if (!json_is_integer(price) || json_integer_value(price) < 0 || json_integer_value(price) > 1000000000000LL)
            return "product needs price, integer cents >= 0";
        p->type = LC_MSG_PRODUCT;
        p->sku = lc_str(json_string_value(sku), sn);
        p->title = lc_str(json_string_value(title), tn);
        p->price = json_integer_value(price);
        return NULL;
    }
    return "type must be announce, product or coupon_drop";
}

static void on_posted(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    api_req_t *r = lc__api_answerable(q);
    if (!r) return;
    lc_server_t *srv = r->srv;
    if (rc == LC_STORE_REFUSED) { /* Redis refused it before running it: nothing posted */
        srv->m.redis_failures++;
        lc__api_fail(srv, q, 503);
        return;
    }
    int ok = rc == LC_STORE_OK && reply && reply->type == LC_MSG_REPLY && lc_msg_has(reply, status);
    if (ok && lc_str_eq(reply->status, "key_reused")) {
        lc__api_fail_with(srv, q, 422, "this Idempotency-Key was used for another body", NULL);
        return;
    }
    int replayed = ok && lc_str_eq(reply->status, "replayed");
    if (!ok || (!replayed && !lc_str_eq(reply->status, "ok")) || !lc_msg_has(reply, id)) {
        /* sent, then lost (or an answer we cannot read): it may have been
         * written. Not 503: a load balancer would retry it and maybe post
         * it twice. */
        srv->m.redis_failures++;
        lc__api_fail(srv, q, 504);
        return;
    }
    json_t *o = json_pack("{s:s%}", "id", reply->id.p, reply->id.n);
    if (o && replayed && json_object_set_new(o, "replayed", json_true()) != 0) {
        json_decref(o);
        o = NULL;
    }
    lc__api_json(srv, q, 202, o);
}

static void on_body(void *arg, lc_http_req_t *q, unsigned body_status) {
    lc_server_t *srv = arg;
    api_req_t *r = lc_http_data(q, sizeof(*r)); /* the handler's block: there since it asked for the body */
    unsigned st = refusal(r->refuse, body_status);
    if (st) {
        lc__api_fail(srv, q, st);
        return;
    }
    size_t n;
    const char *body = lc_http_body(q, &n);
    /* jansson checks UTF-8 and refuses NUL in strings (no JSON_ALLOW_NUL) */
    json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
    lc_store_post_req_t p = {.room = lc_str(r->room, r->rn), .key = lc_str(r->key, strlen(r->key)),
                             .key_ttl_s = srv->cfg.req_ttl_s, .cap = srv->cfg.history};
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
    if (type && strcmp(type, "coupon_drop") == 0) { /* not a stream message: a coupon (api_shop.c) */
        const char *why = lc__api_coupon_drop(r, q, j);
        if (why) lc__api_fail_with(srv, q, 400, why, NULL);
        json_decref(j);
        return;
    }
    const char *why = j ? parse_body(j, &p) : "body is not valid JSON";
    if (why)
        lc__api_fail_with(srv, q, 400, why, NULL);
    else if (lc_http_defer(q) != 0 || lc_store_post(srv->store, &p, on_posted, q) != 0)
        lc__api_fail(srv, q, 503); /* nothing was sent: safe to retry */
    json_decref(j);        /* the store copied what it sends */
}

static void post_message(api_req_t *r, lc_http_req_t *q, int auth) {
    r->refuse = !auth ? 401 : idempotency_key(q, r->key) != 0 ? 400 : 0;
    /* a stranger's body is not worth draining: over the limit, cut at once */
    int st = lc_http_read_body(q, API_MAX_BODY, auth ? API_DRAIN_MAX : API_MAX_BODY, on_body);
    if (st) lc__api_fail(r->srv, q, refusal(r->refuse, (unsigned)st));
}

/* The demo shop (open mode only): POST /demo/rooms/ROOM/orders/ORDER/pay is
 * /api/rooms/ROOM/orders/ORDER/paid without a key, so that a laptop's viewer
 * page can pay. With tokens configured every /demo/ path is 404. */
static void demo_handle(void *arg, lc_http_req_t *q) {
    lc_server_t *srv = arg;
    static const char pre[] = "/demo/rooms/", pay[] = "/pay";
    const char *path = lc_http_path(q);
    size_t n = strlen(path);
    char api_path[256];
    api_req_t *r = lc_http_data(q, sizeof(*r));
    if (!r) {
        lc__api_fail(srv, q, 503);
        return;
    }
    r->srv = srv;
    if (srv->cfg.jwt_key_file[0] || strncmp(path, pre, sizeof(pre) - 1) != 0 || n < sizeof(pre) + sizeof(pay) || n >= 200 ||
        strcmp(path + n - (sizeof(pay) - 1), pay) != 0 ||
        snprintf(api_path, sizeof(api_path), "/api/rooms/%.*s/paid", (int)(n - (sizeof(pre) - 1) - (sizeof(pay) - 1)),
                 path + sizeof(pre) - 1) >= (int)sizeof(api_path) ||
        route(api_path, r) != API_PAID) {
        lc__api_fail(srv, q, 404);
        return;
    }
    if (lc_http_method(q) != LC_HTTP_POST) {
        lc__api_fail_with(srv, q, 405, NULL, "POST");
        return;
    }
    paid_request(srv, r, q);
}

int lc_api_routes(lc_api_t *api, lc_server_t *srv) {
    if (!api || api != srv->api) return -1;
    if (lc_http_route(srv->http, "/demo/", demo_handle, srv) != 0) return -1;
    return lc_http_route(srv->http, "/api/", lc_api_handle, srv);
}

static void on_paid_body(void *arg, lc_http_req_t *q, unsigned body_status) {
    lc_server_t *srv = arg;
    api_req_t *r = lc_http_data(q, sizeof(*r));
    if (body_status)
        lc__api_fail(srv, q, body_status);
    else
        lc__api_order_paid(r, q);
}

/* A payment has no body: without one (no length, or 0) it is answered from
 * the handler; one that comes anyway is read (and ignored) first. */
static void paid_request(lc_server_t *srv, api_req_t *r, lc_http_req_t *q) {
    char cl[24];
    int n = lc_http_header(q, "content-length", cl, sizeof(cl));
    int te = lc_http_header(q, "transfer-encoding", cl + 20, 4) != -1;
    if (!te && (n == -1 || (n == 1 && cl[0] == '0'))) {
        lc__api_order_paid(r, q);
        return;
    }
    int st = lc_http_read_body(q, API_MAX_BODY, API_MAX_BODY, on_paid_body);
    if (st) lc__api_fail(srv, q, (unsigned)st);
}

void lc_api_handle(void *arg, lc_http_req_t *q) {
    lc_server_t *srv = arg;
    api_req_t *r = lc_http_data(q, sizeof(*r));
    if (!r) {
        lc__api_fail(srv, q, 503);
        return;
    }
    r->srv = srv;
    api_path_t what = srv->api && srv->api->on ? route(lc_http_path(q), r) : API_NONE;
    if (what == API_NONE) {
        lc__api_fail(srv, q, 404);
        return;
    }
    lc_http_method_t m = lc_http_method(q);
    int get = what == API_ROOM || what == API_ORDER || what == API_LOTTERY || what == API_STATS;
    if (m != (get ? LC_HTTP_GET : LC_HTTP_POST)) {
        lc__api_fail_with(srv, q, 405, NULL, get ? "GET" : "POST");
        return;
    }
    int auth = authorized(srv->api, q);
    if (!auth && what != API_MESSAGES) { /* a post decides after its body: see refusal */
        lc__api_fail(srv, q, 401);
        return;
    }
    if (what == API_ROOM) {
        get_room(r, q);
    } else if (what == API_ORDER) {
        lc__api_order_get(r, q);
    } else if (what == API_LOTTERY) {
        lc__api_lottery_get(r, q);
    } else if (what == API_STATS) {
        lc__api_stats_get(r, q);
    } else if (what == API_PAID) {
        paid_request(srv, r, q);
    } else {
        post_message(r, q, auth);
    }
}
