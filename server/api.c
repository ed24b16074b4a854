/*
 * The publish API. A request lives in an api_req owned by the HTTP
 * connection's slot (net.c's per-session data) from LWS_CALLBACK_HTTP to
 * its answer. Answers that need Redis come back by callback: the request
 * then holds the answer and asks for HTTP_WRITEABLE. If the client goes
 * away while Redis works, the request is orphaned (wsi NULL) and freed by
 * the Redis callback instead.
 *
 * The key is never compared as a string: both sides are hashed (SHA-256)
 * and the digests compared with CRYPTO_memcmp, so neither the key's
 * content nor its length leaks through timing.
 */
#include "api.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "httpparse.h"
#include "keyfile.h"
#include "log.h"
#include "store.h"

#define API_MAX_BODY 4096
/* A body up to this size is read and dropped before a 413, so the client
 * gets its answer rather than a reset; a larger one is cut at once. */
#define API_DRAIN_MAX (1u << 20)
#define JSON_TYPE "application/json"
#define API_KEY_MAX 64 /* Idempotency-Key: 1-64 visible ASCII characters */

typedef struct api_req {
    lc_server_t *srv;
    struct lws *wsi;  /* NULL once the client went away (orphaned) */
    int in_redis;     /* a Redis call owns a reference */
    int counted;      /* in srv->api_pending until its answer is written or its client gone */
    int post;         /* POST .../messages (the only request with a body) */
    char room[65];
    size_t rn;
    size_t got;
    char body[API_MAX_BODY + 1];
    int answered;     /* written from the Redis callback: close at the next WRITEABLE */
    unsigned refuse;  /* 400, 401 or 413 decided before the body: read it, then refuse */
    char key[API_KEY_MAX + 1]; /* Idempotency-Key, "" if none */
    int chunked;      /* Transfer-Encoding: chunked (lws 4.1 does not decode it) */
    lc_http_dechunk_t dc;
} api_req_t;

int lc_api_init(lc_server_t *srv) {
    uint8_t key[1024];
    size_t n = 0;
    const char *env = getenv("LIVECART_API_KEY");
    if (srv->cfg.api_key_file[0]) {
        if (lc_keyfile_read(srv->cfg.api_key_file, key, sizeof(key), &n) != 0) return -1;
    } else if (env && *env) {
        n = strlen(env);
        if (n > sizeof(key)) {
            lc_log("LIVECART_API_KEY is longer than %zu bytes", sizeof(key));
            return -1;
        }
        memcpy(key, env, n);
    } else {
        lc_log("publish API off (no --api-key-file, no LIVECART_API_KEY)");
        return 0;
    }
    SHA256(key, n, srv->api_key_hash);
    OPENSSL_cleanse(key, sizeof(key));
    srv->api_on = 1;
    lc_log("publish API on: POST /api/rooms/ROOM/messages, GET /api/rooms/ROOM (key from %s)",
           srv->cfg.api_key_file[0] ? srv->cfg.api_key_file : "LIVECART_API_KEY");
    return 0;
}

static int authorized(lc_server_t *srv, struct lws *wsi) {
    char h[1100];
    int n = lws_hdr_copy(wsi, h, sizeof(h), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n < 8 || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)h + 7, (size_t)n - 7, d);
    OPENSSL_cleanse(h, sizeof(h));
    return CRYPTO_memcmp(d, srv->api_key_hash, sizeof(d)) == 0;
}

static void count(lc_server_t *srv, unsigned status) {
    int i = status < 300 ? 0 : status == 400 ? 1 : status == 401 ? 2 : status == 404 ? 3
          : status == 413 ? 4 : status == 503 ? 5 : 6;
    srv->m.api[i]++;
}

/* Answers now with a small JSON error {"error":CODE} (plus "message" when
 * msg is not NULL: one of our own literals, nothing to escape) and an
 * optional extra header; close: end the connection without reading more. */
static int error_reply(lc_server_t *srv, struct lws *wsi, unsigned status, const char *code, const char *msg,
                       const char *hname, const char *hval, int close) {
    char b[192];
    int n = msg ? snprintf(b, sizeof(b), "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, msg)
                : snprintf(b, sizeof(b), "{\"error\":\"%s\"}\n", code);
    if (n < 0 || (size_t)n >= sizeof(b)) return -1;
    count(srv, status);
    if (lc_http_send(wsi, status, JSON_TYPE, b, (size_t)n, hname, hval) != 0 || close) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int fail(lc_server_t *srv, struct lws *wsi, unsigned status, const char *code, int close) {
    return error_reply(srv, wsi, status, code, NULL, status == 401 ? "www-authenticate:" : NULL,
                       "Bearer realm=\"livecart\"", close);
}

/* A Redis call now owns q. Shutdown waits for it (srv->api_pending) until
 * its answer is written, not only until Redis answered: the answer goes
 * out on a later HTTP_WRITEABLE, and a shard that stopped in between would
 * post a message and never say so. */
static void to_redis(api_req_t *q) {
    q->in_redis = 1;
    if (!q->counted) q->srv->api_pending++;
    q->counted = 1;
    /* lws reads nothing more while Redis works: bytes after the body stay
     * unserviced in its buffer (lws 4.1 would otherwise parse them, call
     * BODY_COMPLETION again and close before we answer), and a client's
     * FIN cannot close the connection first. */
    lws_rx_flow_control(q->wsi, 0);
}

static void from_redis(api_req_t *q) { q->in_redis = 0; }

/* Copies the request's Idempotency-Key into key (API_KEY_MAX + 1 bytes):
 * 0 (absent: ""), or -1 when it is empty, too long or not visible ASCII. */
static int idempotency_key(struct lws *wsi, char *key) {
    static const char name[] = "idempotency-key:";
    key[0] = '\0';
    int n = lws_hdr_custom_length(wsi, name, (int)sizeof(name) - 1);
    if (n < 0) return 0;
    if (n < 1 || n > API_KEY_MAX ||
        lws_hdr_custom_copy(wsi, key, API_KEY_MAX + 1, name, (int)sizeof(name) - 1) != n)
        return -1;
    for (int i = 0; i < n; i++)
        if (key[i] <= ' ' || key[i] > '~') return -1;
    return 0;
}

static void req_free(api_req_t *q) {
    if (q->counted) q->srv->api_pending--;
    free(q);
}

/* Parses "/api/rooms/ROOM" or "/api/rooms/ROOM/messages": 1 room, 2
 * messages, 0 anything else. */
static int route(const char *path, char *room, size_t *rn) {
    static const char pre[] = "/api/rooms/";
    if (strncmp(path, pre, sizeof(pre) - 1) != 0) return 0;
    const char *r = path + sizeof(pre) - 1, *slash = strchr(r, '/');
    size_t n = slash ? (size_t)(slash - r) : strlen(r);
    if (!lc_ident_valid(r, n)) return 0;
    memcpy(room, r, n);
    room[n] = '\0';
    *rn = n;
    if (!slash) return 1;
    return strcmp(slash, "/messages") == 0 ? 2 : 0;
}

/* Writes an answer (json: malloc'd, taken; NULL: a plain error for status).
 * Errors need no handling here: a failed socket is closed by lws. */
static void write_answer(lc_server_t *srv, struct lws *wsi, unsigned status, char *json) {
    if (!json) {
        fail(srv, wsi, status, status == 503 ? "unavailable" : status == 504 ? "unknown" : "internal", 1);
        return;
    }
    count(srv, status);
    lc_http_send(wsi, status, JSON_TYPE, json, strlen(json), NULL, NULL);
    free(json);
}

/* The answer of a request that waited for Redis (the client is still
 * there): written at once, from the Redis callback; then lws may read again
 * (flow-controlled HTTP/1 gets no POLLOUT in lws 4.1, so it could not even
 * flush), and the next HTTP_WRITEABLE -- which lws gives once it has sent
 * whatever the socket did not take -- closes the connection. Bytes that
 * followed the body are discarded with it. */
static void answer_later(api_req_t *q, unsigned status, char *json) {
    write_answer(q->srv, q->wsi, status, json);
    q->answered = 1;
    if (q->counted) q->srv->api_pending--; /* the answer is out: shutdown need not wait */
    q->counted = 0;
    lws_rx_flow_control(q->wsi, 1);
    lws_callback_on_writable(q->wsi);
}

static char *dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static void on_room(void *arg, int status, const lc_store_join_t *res) {
    api_req_t *q = arg;
    from_redis(q);
    if (!q->wsi) {
        req_free(q);
        return;
    }
    if (status != 0 || !res) {
        q->srv->m.redis_failures++;
        answer_later(q, 503, NULL);
        return;
    }
    json_t *sales = json_array();
    for (size_t i = 0; sales && i < res->nsales; i++) {
        const lc_store_sale_t *s = &res->sales[i];
        int group = s->kind_n == 5 && memcmp(s->kind, "group", 5) == 0;
        json_t *o = json_pack("{s:s#,s:s#,s:s#,s:I,s:I,s:I}", "kind", s->kind, (int)s->kind_n, "sku", s->sku,
                              (int)s->sku_n, "title", s->title, (int)s->title_n, "price", (json_int_t)s->price,
                              "stock", (json_int_t)s->left, "total", (json_int_t)s->total);
        if (o && group) {
            json_object_set_new(o, "size", json_integer(s->size));
            json_object_set_new(o, "ttl_s", json_integer(s->ttl_s));
            json_object_set_new(o, "teams", json_integer(s->teams));
        } else if (o) {
            json_object_set_new(o, "limit", json_integer(s->limit));
        }
        json_array_append_new(sales, o);
    }
    json_t *o = json_pack("{s:s#,s:I,s:I,s:s#,s:o}", "room", q->room, (int)q->rn, "viewers",
                          (json_int_t)res->others, "likes", (json_int_t)res->likes, "last", res->last,
                          (int)res->last_n, "sales", sales ? sales : json_null());
    char *s = dump(o);
    answer_later(q, s ? 200 : 500, s);
}

static void on_posted(void *arg, int status, const lc_store_val_t *v, size_t n) {
    api_req_t *q = arg;
    from_redis(q);
    if (!q->wsi) {
        req_free(q);
        return;
    }
    if (status == LC_STORE_REFUSED) { /* Redis refused it before running it: nothing posted */
        q->srv->m.redis_failures++;
        answer_later(q, 503, NULL);
        return;
    }
    if (status != 0 || n < 2 || !v[0].s || !v[1].s) {
        /* sent, then lost: it may have been written. Not 503 (a load
         * balancer would retry it and maybe post it twice). */
        q->srv->m.redis_failures++;
        answer_later(q, 504, NULL);
        return;
    }
    lc_str_t st = lc_str(v[0].s, v[0].n);
    if (lc_str_eq(st, "key_reused")) {
        answer_later(q, 422, dump(json_pack("{s:s,s:s}", "error", "key_reused", "message",
                                            "this Idempotency-Key was used for another body")));
        return;
    }
    json_t *o = json_pack("{s:s#}", "id", v[1].s, (int)v[1].n);
    if (o && lc_str_eq(st, "replayed")) json_object_set_new(o, "replayed", json_true());
    char *s = dump(o);
    answer_later(q, s ? 202 : 500, s);
}

int lc_api_serve(lc_server_t *srv, struct lws *wsi, const char *path, void **slot) {
    char room[65];
    size_t rn = 0;
    if (!srv->api_on) return fail(srv, wsi, 404, "not_found", 0);
    int what = route(path, room, &rn);
    if (!what) return fail(srv, wsi, 404, "not_found", 0);
    int post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    int get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    if ((what == 1 && !get) || (what == 2 && !post))
        return error_reply(srv, wsi, 405, "method_not_allowed", NULL, "allow:", what == 1 ? "GET" : "POST", 0);
    int auth = authorized(srv, wsi);
    if (!auth && !post) return fail(srv, wsi, 401, "unauthorized", 0);
    api_req_t *q = calloc(1, sizeof(*q));
    if (!q) return fail(srv, wsi, 503, "unavailable", post);
    q->srv = srv;
    q->wsi = wsi;
    memcpy(q->room, room, rn + 1);
    q->rn = rn;
    if (what == 1) {
        if (lc_store_join(srv->store, room, rn, "", 0, NULL, 0, 0, NULL, 0, on_room, q) != 0) {
            free(q);
            return fail(srv, wsi, 503, "unavailable", 0);
        }
        to_redis(q);
        *slot = q;
        return 0;
    }
    char te[16];
    int nte = lws_hdr_copy(wsi, te, sizeof(te), WSI_TOKEN_HTTP_TRANSFER_ENCODING);
    if (nte != 0) {
        /* lws 4.1 reads such a body as up to 100 MiB of raw chunk framing and
         * never completes it: we decode it in lc_api_body. Both headers at
         * once, or another coding: refused (RFC 9112 6.1, 6.3). */
        if (nte < 0 || strcasecmp(te, "chunked") != 0 ||
            lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)) {
            free(q);
            return fail(srv, wsi, 400, "bad_request", 1);
        }
        q->chunked = q->post = 1;
        q->refuse = !auth ? 401 : idempotency_key(wsi, q->key) != 0 ? 400 : 0;
        *slot = q;
        return 0;
    }
    char cl[24];
    if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
        free(q);
        return fail(srv, wsi, 411, "length_required", 1);
    }
    char *end;
    unsigned long long len = strtoull(cl, &end, 10);
    if (*end || len > API_DRAIN_MAX || (!auth && len > API_MAX_BODY)) {
        free(q);
        return fail(srv, wsi, auth ? 413 : 401, auth ? "too_large" : "unauthorized", 1);
    }
    q->refuse = !auth ? 401 : len > API_MAX_BODY ? 413 : idempotency_key(wsi, q->key) != 0 ? 400 : 0;
    q->post = 1;
    *slot = q;
    if (len == 0) return lc_api_body_done(srv, wsi, slot);
    return 0;
}

/* A chunked body: decoded into q->body; at its end, what BODY_COMPLETION
 * does (lws never calls it: it waits for 100 MiB). The connection always
 * closes after the answer: lws still counts the body as unfinished. */
static int chunked_body(lc_server_t *srv, struct lws *wsi, void **slot, const void *in, size_t len) {
    api_req_t *q = *slot;
    size_t used;
    int rc = lc_http_dechunk(&q->dc, in, len, &used, q->body, API_MAX_BODY, &q->got);
    unsigned st = rc < 0 ? 400 : q->got > API_DRAIN_MAX ? 413 : q->refuse == 401 && q->got > API_MAX_BODY ? 401 : 0;
    if (st) {
        *slot = NULL;
        req_free(q);
        fail(srv, wsi, st, st == 400 ? "bad_request" : st == 401 ? "unauthorized" : "too_large", 1);
        return -1;
    }
    if (rc == 0) return 0;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* lws's PENDING_TIMEOUT_HTTP_CONTENT */
    rc = lc_api_body_done(srv, wsi, slot);
    return rc == 0 && !*slot ? -1 : rc; /* answered at once: close */
}

int lc_api_body(lc_server_t *srv, struct lws *wsi, void **slot, const void *in, size_t len) {
    api_req_t *q = *slot;
    if (q && q->post && q->answered) return -1;   /* bytes after the body: the answer is out, close */
    if (!q || !q->post || q->in_redis) return -1; /* a body where none belongs: close */
    if (q->chunked) return chunked_body(srv, wsi, slot, in, len);
    if (q->got + len <= API_MAX_BODY) memcpy(q->body + q->got, in, len);
    q->got += len;
    return q->got > API_DRAIN_MAX ? -1 : 0;
}

/* Validates a JSON body into post.lua's kind and arguments. Returns NULL,
 * or the reason it is refused. */
static const char *parse_body(json_t *j, const char **kind, lc_store_val_t *args, size_t *nargs) {
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!json_is_object(j) || !type) return "body must be a JSON object with a type";
    if (strcmp(type, "announce") == 0) {
        json_t *t = json_object_get(j, "text");
        size_t n = json_string_length(t);
        if (!json_is_string(t) || n < 1 || n > 500) return "announce needs text, 1-500 bytes";
        *kind = "announce";
        args[0] = (lc_store_val_t){json_string_value(t), n, 0};
        *nargs = 1;
        return NULL;
    }
    if (strcmp(type, "product") == 0) {
        json_t *sku = json_object_get(j, "sku"), *title = json_object_get(j, "title"),
               *price = json_object_get(j, "price");
        size_t sn = json_string_length(sku), tn = json_string_length(title);
        if (!json_is_string(sku) || !lc_ident_valid(json_string_value(sku), sn))
            return "product needs sku, 1-64 of [A-Za-z0-9_-]";
        if (!json_is_string(title) || tn < 1 || tn > 200) return "product needs title, 1-200 bytes";
        if (!json_is_integer(price) || json_integer_value(price) < 0 ||
            json_integer_value(price) > 1000000000000LL)
            return "product needs price, integer cents >= 0";
        *kind = "product";
        args[0] = (lc_store_val_t){json_string_value(sku), sn, 0};
        args[1] = (lc_store_val_t){json_string_value(title), tn, 0};
        args[2] = (lc_store_val_t){NULL, 0, json_integer_value(price)};
        *nargs = 3;
        return NULL;
    }
    return "type must be announce or product";
}

int lc_api_body_done(lc_server_t *srv, struct lws *wsi, void **slot) {
    api_req_t *q = *slot;
    /* lws 4.1 repeats BODY_COMPLETION while bytes follow the body (the wsi
     * stays in LRS_BODY with no body left): answered, close; in Redis, wait */
    if (q && q->post && q->answered) return -1;
    if (q && q->post && q->in_redis) return 0;
    if (!q || !q->post) return -1;
    if (q->refuse || q->got > API_MAX_BODY) {
        unsigned st = q->refuse ? q->refuse : 413;
        *slot = NULL;
        req_free(q);
        return fail(srv, wsi, st, st == 401 ? "unauthorized" : st == 400 ? "bad_request" : "too_large", st == 413);
    }
    /* jansson checks UTF-8 and refuses NUL in strings (no JSON_ALLOW_NUL) */
    json_t *j = json_loadb(q->body, q->got, JSON_REJECT_DUPLICATES, NULL);
    const char *kind = NULL;
    lc_store_val_t args[3];
    size_t nargs = 0;
    const char *why = j ? parse_body(j, &kind, args, &nargs) : "body is not valid JSON";
    if (why) {
        json_decref(j);
        *slot = NULL;
        req_free(q);
        return error_reply(srv, wsi, 400, "bad_request", why, NULL, NULL, 0);
    }
    lc_store_post_t post = {kind, args, nargs, q->key, strlen(q->key), srv->cfg.req_ttl_s, srv->cfg.history};
    int rc = lc_store_post(srv->store, q->room, q->rn, &post, on_posted, q);
    json_decref(j);
    if (rc != 0) {
        *slot = NULL;
        req_free(q);
        return fail(srv, wsi, 503, "unavailable", 0);
    }
    to_redis(q);
    return 0;
}

int lc_api_writeable(lc_server_t *srv, struct lws *wsi, void **slot) {
    api_req_t *q = *slot;
    return q && q->answered ? -1 : 0; /* lws flushed our answer: close */
}

void lc_api_closed(void **slot) {
    api_req_t *q = *slot;
    *slot = NULL;
    if (!q) return;
    if (q->in_redis)
        q->wsi = NULL; /* the Redis callback frees it */
    else
        req_free(q);
}
