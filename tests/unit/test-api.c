/* The publish API's decisions, with an in-memory request and a store that
 * the test answers: routing, 401/404/405/411/413/400 and their order, body
 * validation, Idempotency-Key rules, the answers to each store outcome
 * (504 vs 503), the JSON of a room's state, orphaned requests, and the
 * key's sources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "lc_test.h"
#include "metrics.h"
#include "stub_http.h"

#define KEY "test-api-key-0123456789"
#define ROOM "/api/rooms/r1"
#define MSGS "/api/rooms/r1/messages"

static lc_server_t srv;
static stub_apistore_t *store;

static void setup(const char *key) {
    memset(&srv, 0, sizeof(srv));
    if (key)
        setenv("LIVECART_API_KEY", key, 1);
    else
        unsetenv("LIVECART_API_KEY");
    srv.api = lc_api_create(&srv.cfg);
    store = stub_apistore_new();
    srv.store = stub_apistore_handle(store);
    srv.cfg.req_ttl_s = 86400;
    srv.cfg.history = 1000;
}

static void teardown(void) {
    lc_api_destroy(srv.api);
    stub_apistore_free(store);
}

static lc_http_req_t *req(lc_http_method_t m, const char *path, const char *key) {
    lc_http_req_t *q = stub_req_new(m, path);
    if (key) {
        char h[256];
        snprintf(h, sizeof(h), "Bearer %s", key);
        stub_req_header(q, "Authorization", h);
    }
    return q;
}

/* A POST with a Content-Length body (idem: an Idempotency-Key or NULL),
 * run through the handler and, if it asks, its body. */
static lc_http_req_t *post(const char *body, const char *key, const char *idem) {
    lc_http_req_t *q = req(LC_HTTP_POST, MSGS, key);
    char cl[24];
    snprintf(cl, sizeof(cl), "%zu", strlen(body));
    stub_req_header(q, "Content-Length", cl);
    if (idem) stub_req_header(q, "Idempotency-Key", idem);
    stub_run(q, lc_api_handle, &srv);
    if (stub_answer(q)->asked_body && *body) stub_body(q, body, strlen(body));
    return q;
}

static unsigned status_of(lc_http_req_t *q) { return stub_answer(q)->answers == 1 ? stub_answer(q)->status : 0; }
static const char *body_of(lc_http_req_t *q) { return stub_answer(q)->body; }

/* Runs one request without a body and returns its status (0: none yet). */
static unsigned get(lc_http_method_t m, const char *path, const char *key) {
    lc_http_req_t *q = req(m, path, key);
    stub_run(q, lc_api_handle, &srv);
    unsigned st = status_of(q);
    stub_req_free(q);
    return st;
}

static void test_api_off_is_404_everywhere(void) {
    setup(NULL);
    CHECK(srv.api != NULL);
    CHECK_EQ_INT(get(LC_HTTP_GET, ROOM, KEY), 404);
    lc_http_req_t *q = post("{\"type\":\"announce\",\"text\":\"x\"}", KEY, NULL);
    CHECK_EQ_INT(status_of(q), 404);
    CHECK(strcmp(body_of(q), "{\"error\":\"not_found\"}\n") == 0);
    CHECK_EQ_INT(store->ncmds, 0);
    CHECK_EQ_INT(srv.m.api[3], 2); /* counted as 404 */
    stub_req_free(q);
    teardown();
}

static void test_unknown_paths_are_404(void) {
    setup(KEY);
    const char *paths[] = {"/api/", "/api/nothing", "/api/rooms/", "/api/rooms/r1/other", "/api/rooms/r1/messages/x",
                           "/api/rooms/bad room", "/api/rooms/r1/", NULL};
    for (int i = 0; paths[i]; i++) CHECK_EQ_INT(get(LC_HTTP_GET, paths[i], KEY), 404);
    char longroom[100] = "/api/rooms/";
    memset(longroom + 11, 'r', 65);
    CHECK_EQ_INT(get(LC_HTTP_GET, longroom, KEY), 404);
    longroom[11 + 64] = '\0'; /* 64 is the longest room */
    CHECK_EQ_INT(get(LC_HTTP_GET, longroom, KEY), 0); /* waiting for the store */
    teardown();
}

static void test_wrong_methods_are_405_with_allow(void) {
    setup(KEY);
    lc_http_req_t *q = req(LC_HTTP_GET, MSGS, KEY);
    stub_run(q, lc_api_handle, &srv);
    CHECK_EQ_INT(status_of(q), 405);
    CHECK(stub_answer_header(q, "allow") && strcmp(stub_answer_header(q, "allow"), "POST") == 0);
    stub_req_free(q);
    const lc_http_method_t others[] = {LC_HTTP_POST, LC_HTTP_HEAD, LC_HTTP_OTHER};
    for (int i = 0; i < 3; i++) {
        q = req(others[i], ROOM, KEY);
        stub_run(q, lc_api_handle, &srv);
        CHECK_EQ_INT(status_of(q), 405);
        CHECK(stub_answer_header(q, "allow") && strcmp(stub_answer_header(q, "allow"), "GET") == 0);
        stub_req_free(q);
    }
    /* the method is checked before the key: no key needed to learn it */
    CHECK_EQ_INT(get(LC_HTTP_POST, ROOM, NULL), 405);
    teardown();
}

static void test_a_missing_or_wrong_key_is_401_with_www_authenticate(void) {
    setup(KEY);
    const char *keys[] = {"", "wrong", KEY "x", "test-api-key-012345678", NULL};
    for (int i = 0; keys[i]; i++) {
        lc_http_req_t *q = req(LC_HTTP_GET, ROOM, keys[i]);
        stub_run(q, lc_api_handle, &srv);
        CHECK_EQ_INT(status_of(q), 401);
        const char *h = stub_answer_header(q, "www-authenticate");
        CHECK(h && strncmp(h, "Bearer", 6) == 0);
        stub_req_free(q);
    }
    CHECK_EQ_INT(get(LC_HTTP_GET, ROOM, NULL), 401);
    lc_http_req_t *q = stub_req_new(LC_HTTP_GET, ROOM);
    stub_req_header(q, "Authorization", "Basic " KEY);
    stub_run(q, lc_api_handle, &srv);
    CHECK_EQ_INT(status_of(q), 401);
    stub_req_free(q);
    q = stub_req_new(LC_HTTP_GET, ROOM);
    stub_req_header(q, "Authorization", "bearer " KEY); /* the scheme is case-insensitive */
    stub_run(q, lc_api_handle, &srv);
    CHECK(stub_waiting(q));
    stub_req_free(q);
    /* a POST without the key: its small body is read, then refused; nothing posted */
    q = post("{\"type\":\"announce\",\"text\":\"no\"}", "wrong", NULL);
    CHECK(stub_answer(q)->asked_body);
    CHECK_EQ_INT(status_of(q), 401);
    CHECK_EQ_INT(store->ncmds, 1); /* the accepted GET's join only */
    CHECK(!store->cmds[0].post);
    CHECK_EQ_INT(srv.m.api[2], 7);
    stub_req_free(q);
    teardown();
}

static void test_body_framing_and_size_refusals_in_order(void) {
    setup(KEY);
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lc_http_req_t *q = post(big, KEY, NULL); /* read to its end, then 413 */
    CHECK(stub_answer(q)->asked_body);
    CHECK_EQ_INT(status_of(q), 413);
    CHECK(strcmp(body_of(q), "{\"error\":\"too_large\"}\n") == 0);
    stub_req_free(q);
    q = post(big, "wrong", NULL); /* a stranger's large body: 401 at once, not read */
    CHECK(!stub_answer(q)->asked_body);
    CHECK_EQ_INT(status_of(q), 401);
    stub_req_free(q);
    struct {
        const char *te, *cl, *key;
        unsigned st;
    } cases[] = {
        {NULL, NULL, KEY, 411},         {NULL, NULL, "wrong", 411}, /* framing before the key */
        {"gzip", NULL, KEY, 400},       {"chunked", "5", KEY, 400}, /* both framings: smuggling */
        {NULL, "-1", KEY, 400},         {NULL, "1x", KEY, 400},
        {NULL, "2000000", KEY, 413}, /* over the drain limit: at once */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q = req(LC_HTTP_POST, MSGS, cases[i].key);
        if (cases[i].te) stub_req_header(q, "Transfer-Encoding", cases[i].te);
        if (cases[i].cl) stub_req_header(q, "Content-Length", cases[i].cl);
        stub_run(q, lc_api_handle, &srv);
        CHECK_EQ_INT(status_of(q), cases[i].st);
        CHECK(!stub_answer(q)->asked_body);
        stub_req_free(q);
    }
    CHECK_EQ_INT(store->ncmds, 0);
    teardown();
}

static void test_bad_bodies_are_400_with_a_message_and_post_nothing(void) {
    setup(KEY);
    const char *bad[] = {
        "", "not json", "[1,2]", "\"announce\"", "{}", "{\"type\":\"comment\",\"text\":\"x\"}",
        "{\"type\":\"announce\"}", "{\"type\":\"announce\",\"text\":\"\"}", "{\"type\":\"announce\",\"text\":5}",
        "{\"type\":\"announce\",\"text\":\"bad \\ud800 surrogate\"}",
        "{\"type\":\"announce\",\"text\":\"nul \\u0000 inside\"}",
        "{\"type\":\"announce\",\"text\":\"x\",\"text\":\"d\"}", "{\"type\":\"announce\",\"text\":\"\xff\xfe\"}",
        "{\"type\":\"product\",\"sku\":\"bad sku\",\"title\":\"t\",\"price\":1}",
        "{\"type\":\"product\",\"sku\":\"A\",\"title\":\"\",\"price\":1}",
        "{\"type\":\"product\",\"sku\":\"A\",\"title\":\"t\",\"price\":-1}",
        "{\"type\":\"product\",\"sku\":\"A\",\"title\":\"t\",\"price\":1.5}",
        "{\"type\":\"product\",\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\"}",
        "{\"type\":\"product\",\"sku\":\"A\",\"title\":\"t\"}", NULL};
    for (int i = 0; bad[i]; i++) {
        lc_http_req_t *q = post(bad[i], KEY, NULL);
        CHECK_EQ_INT(status_of(q), 400);
        CHECK(strncmp(body_of(q), "{\"error\":\"bad_request\",\"message\":\"", 34) == 0);
        CHECK(strcmp(stub_answer(q)->ctype, "application/json") == 0);
        CHECK(!stub_answer(q)->deferred);
        stub_req_free(q);
    }
    char text[600] = "{\"type\":\"announce\",\"text\":\"";
    memset(text + strlen(text), 'a', 501);
    strcat(text, "\"}");
    lc_http_req_t *q = post(text, KEY, NULL);
    CHECK_EQ_INT(status_of(q), 400);
    stub_req_free(q);
    CHECK_EQ_INT(store->ncmds, 0);
    teardown();
}

static void test_idempotency_keys_are_1_to_64_visible_ascii(void) {
    setup(KEY);
    const char *body = "{\"type\":\"announce\",\"text\":\"x\"}";
    char k65[66];
    memset(k65, 'k', 65);
    k65[65] = '\0';
    const char *bad[] = {"", k65, "has space", "tab\tkey", "\xc3\xa9", NULL};
    for (int i = 0; bad[i]; i++) {
        lc_http_req_t *q = post(body, KEY, bad[i]);
        CHECK(stub_answer(q)->asked_body); /* read, then refused */
        CHECK_EQ_INT(status_of(q), 400);
        stub_req_free(q);
    }
    CHECK_EQ_INT(store->ncmds, 0);
    k65[64] = '\0';
    lc_http_req_t *q = post(body, KEY, k65);
    CHECK(stub_waiting(q));
    CHECK_EQ_INT(store->ncmds, 1);
    CHECK(strcmp(store->cmds[0].key, k65) == 0);
    stub_req_free(q);
    teardown();
}

static lc_msg_t reply_msg(const char *status, const char *id) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_REPLY);
    lc_msg_set(&m, status, lc_cstr(status));
    if (id) lc_msg_set(&m, id, lc_cstr(id));
    return m;
}

static void test_a_post_goes_to_the_store_and_its_reply_decides_the_answer(void) {
    setup(KEY);
    struct {
        int rc;
        const char *status, *id;
        unsigned want;
        const char *body;
    } cases[] = {
        {LC_STORE_OK, "ok", "5-1", 202, "{\"id\":\"5-1\"}"},
        {LC_STORE_OK, "replayed", "5-1", 202, "{\"id\":\"5-1\",\"replayed\":true}"},
        {LC_STORE_OK, "key_reused", NULL, 422,
         "{\"error\":\"key_reused\",\"message\":\"this Idempotency-Key was used for another body\"}\n"},
        {LC_STORE_UNKNOWN, NULL, NULL, 504, "{\"error\":\"unknown\"}\n"}, /* may be posted: not 503 */
        {LC_STORE_REFUSED, NULL, NULL, 503, "{\"error\":\"unavailable\"}\n"},
        {LC_STORE_OK, "ok", NULL, 504, "{\"error\":\"unknown\"}\n"}, /* no id: cannot say which */
        {LC_STORE_OK, "weird", "5-1", 504, "{\"error\":\"unknown\"}\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lc_http_req_t *q = post("{\"type\":\"announce\",\"text\":\"Sale at 8!\"}", KEY, "order-42");
        CHECK(stub_waiting(q));
        CHECK_EQ_INT(store->ncmds, i + 1);
        const stub_cmd_t *c = &store->cmds[i];
        CHECK(c->post && strcmp(c->room, "r1") == 0 && c->type == LC_MSG_ANNOUNCE);
        CHECK(strcmp(c->text, "Sale at 8!") == 0 && strcmp(c->key, "order-42") == 0);
        CHECK_EQ_INT(c->key_ttl_s, 86400);
        CHECK_EQ_INT(c->cap, 1000);
        lc_msg_t m = reply_msg(cases[i].status ? cases[i].status : "ok", cases[i].id);
        stub_apistore_answer(store, i, cases[i].rc, cases[i].rc == LC_STORE_OK ? &m : NULL);
        CHECK_EQ_INT(status_of(q), cases[i].want);
        CHECK(strcmp(body_of(q), cases[i].body) == 0);
        stub_req_free(q);
    }
    CHECK_EQ_INT(srv.m.redis_failures, 4);
    CHECK_EQ_INT(srv.m.api[0], 2); /* 2xx */
    CHECK_EQ_INT(srv.m.api[9], 1);  /* 503 */
    CHECK_EQ_INT(srv.m.api[8], 1);  /* 422 */
    CHECK_EQ_INT(srv.m.api[10], 3); /* 504: it may have happened */
    teardown();
}

static void test_a_product_post_carries_its_fields_and_redis_down_is_503(void) {
    setup(KEY);
    const char *mug = "{\"type\":\"product\",\"sku\":\"MUG-1\",\"title\":\"Mug \xe2\x98\x95\",\"price\":1299}";
    lc_http_req_t *q = post(mug, KEY, NULL);
    CHECK(stub_waiting(q));
    const stub_cmd_t *c = &store->cmds[0];
    CHECK(c->type == LC_MSG_PRODUCT && strcmp(c->sku, "MUG-1") == 0 && strcmp(c->title, "Mug \xe2\x98\x95") == 0);
    CHECK_EQ_INT(c->price, 1299);
    CHECK(c->key[0] == '\0');
    stub_req_free(q);
    store->down = 1; /* nothing sent: "unavailable", safe to retry */
    q = post("{\"type\":\"announce\",\"text\":\"x\"}", KEY, NULL);
    CHECK_EQ_INT(status_of(q), 503);
    CHECK_EQ_INT(stub_answer(q)->misuse, 0);
    stub_req_free(q);
    CHECK_EQ_INT(get(LC_HTTP_GET, ROOM, KEY), 503);
    teardown();
}

static void test_a_chunked_post_is_accepted_and_bad_chunking_is_400(void) {
    setup(KEY);
    lc_http_req_t *q = req(LC_HTTP_POST, MSGS, KEY);
    stub_req_header(q, "Transfer-Encoding", "chunked");
    stub_run(q, lc_api_handle, &srv);
    CHECK(stub_answer(q)->asked_body);
    const char *parts[] = {"3\r\n{\"t", "\r\n20\r\nype\":\"announce\",\"text\":\"chunky\"}\r\n", "0\r\n\r\n", NULL};
    for (int i = 0; parts[i]; i++) stub_body(q, parts[i], strlen(parts[i]));
    CHECK(stub_waiting(q));
    CHECK(store->ncmds == 1 && strcmp(store->cmds[0].text, "chunky") == 0);
    stub_req_free(q);
    q = req(LC_HTTP_POST, MSGS, KEY);
    stub_req_header(q, "Transfer-Encoding", "chunked");
    stub_run(q, lc_api_handle, &srv);
    stub_body(q, "zz\r\n", 4);
    CHECK_EQ_INT(status_of(q), 400);
    stub_req_free(q);
    teardown();
}

static void test_room_state_becomes_the_api_json(void) {
    setup(KEY);
    lc_http_req_t *q = req(LC_HTTP_GET, ROOM, KEY);
    stub_run(q, lc_api_handle, &srv);
    CHECK(stub_waiting(q));
    CHECK(store->ncmds == 1 && !store->cmds[0].post && strcmp(store->cmds[0].room, "r1") == 0);
    CHECK(strcmp(store->cmds[0].shard, "") == 0); /* every shard's viewers */
    lc_msg_t sales[3], st;
    lc_msg_init(&sales[0], LC_MSG_SALE);
    lc_msg_set(&sales[0], sku, lc_cstr("K1"));
    lc_msg_set(&sales[0], title, lc_cstr("Kettle"));
    lc_msg_set(&sales[0], price, 2500);
    lc_msg_set(&sales[0], stock, 9);
    lc_msg_set(&sales[0], total, 9);
    lc_msg_set(&sales[0], limit, 2);
    lc_msg_init(&sales[1], LC_MSG_GROUP_SALE);
    lc_msg_set(&sales[1], sku, lc_cstr("G1"));
    lc_msg_set(&sales[1], title, lc_cstr("Tea \"x\""));
    lc_msg_set(&sales[1], price, 900);
    lc_msg_set(&sales[1], stock, 10);
    lc_msg_set(&sales[1], total, 12);
    lc_msg_set(&sales[1], size, 3);
    lc_msg_set(&sales[1], ttl_s, 60);
    lc_msg_set(&sales[1], teams, 1);
    lc_msg_init(&sales[2], LC_MSG_STOCK); /* not a sale: skipped */
    lc_msg_init(&st, LC_MSG_ROOM_STATE);
    lc_msg_set(&st, likes, 7);
    lc_msg_set(&st, viewers, 2);
    lc_msg_set(&st, last, lc_cstr("5-0"));
    lc_msg_set(&st, sales, ((lc_msg_list_t){sales, 3}));
    stub_apistore_answer(store, 0, LC_STORE_OK, &st);
    CHECK_EQ_INT(status_of(q), 200);
    CHECK(strcmp(stub_answer(q)->ctype, "application/json") == 0);
    CHECK(strcmp(stub_answer_header(q, "cache-control"), "no-store") == 0);
    const char *want = "{\"room\":\"r1\",\"viewers\":2,\"likes\":7,\"last\":\"5-0\",\"sales\":["
                       "{\"kind\":\"sale\",\"sku\":\"K1\",\"title\":\"Kettle\",\"price\":2500,\"stock\":9,\"total\":9,"
                       "\"limit\":2},"
                       "{\"kind\":\"group\",\"sku\":\"G1\",\"title\":\"Tea \\\"x\\\"\",\"price\":900,\"stock\":10,"
                       "\"total\":12,\"size\":3,\"ttl_s\":60,\"teams\":1}]}";
    CHECK(strcmp(body_of(q), want) == 0);
    if (strcmp(body_of(q), want) != 0) fprintf(stderr, "got %s\n", body_of(q));
    stub_req_free(q);
    /* an empty room; then a lost answer: a GET is safe to retry, 503 */
    q = req(LC_HTTP_GET, ROOM, KEY);
    stub_run(q, lc_api_handle, &srv);
    lc_msg_init(&st, LC_MSG_ROOM_STATE);
    lc_msg_set(&st, last, lc_cstr("0-0"));
    stub_apistore_answer(store, 1, LC_STORE_OK, &st);
    CHECK(strcmp(body_of(q), "{\"room\":\"r1\",\"viewers\":0,\"likes\":0,\"last\":\"0-0\",\"sales\":[]}") == 0);
    stub_req_free(q);
    q = req(LC_HTTP_GET, ROOM, KEY);
    stub_run(q, lc_api_handle, &srv);
    stub_apistore_answer(store, 2, LC_STORE_UNKNOWN, NULL);
    CHECK_EQ_INT(status_of(q), 503);
    stub_req_free(q);
    teardown();
}

static void test_an_orphaned_request_is_dropped_uncounted(void) {
    setup(KEY);
    lc_http_req_t *q = post("{\"type\":\"announce\",\"text\":\"x\"}", KEY, NULL);
    CHECK(stub_waiting(q));
    stub_leave(q);
    lc_msg_t m = reply_msg("ok", "1-1");
    stub_apistore_answer(store, 0, LC_STORE_OK, &m);
    CHECK(stub_answer(q)->dropped);
    CHECK_EQ_INT(stub_answer(q)->answers, 0);
    CHECK_EQ_INT(stub_answer(q)->misuse, 0);
    CHECK_EQ_INT(srv.m.api[0], 0);
    stub_req_free(q);
    teardown();
}

static void test_every_request_is_answered_once(void) {
    /* whatever the path, method and key, the handler answers, defers or
     * asks for the body -- never nothing, never twice */
    setup(KEY);
    const char *paths[] = {ROOM, MSGS, "/api/x", "/api/rooms/r1/messages/", NULL};
    const lc_http_method_t ms[] = {LC_HTTP_GET, LC_HTTP_HEAD, LC_HTTP_POST, LC_HTTP_OTHER};
    for (int i = 0; paths[i]; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++) {
                lc_http_req_t *q = req(ms[j], paths[i], k ? KEY : "no");
                stub_req_header(q, "Content-Length", "0");
                stub_run(q, lc_api_handle, &srv);
                const stub_answer_t *a = stub_answer(q);
                CHECK(!a->no_answer && a->misuse == 0);
                CHECK(a->answers == 1 || stub_waiting(q));
                stub_req_free(q);
            }
    teardown();
}

static void test_the_key_comes_from_a_file_or_the_environment(void) {
    char path[] = "/tmp/lc-api-key-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "file-key-987\n", 13) == 13);
    close(fd);
    setup(KEY);
    lc_api_destroy(srv.api);
    snprintf(srv.cfg.api_key_file, sizeof(srv.cfg.api_key_file), "%s", path);
    srv.api = lc_api_create(&srv.cfg); /* the file wins over the environment */
    CHECK(srv.api != NULL);
    CHECK_EQ_INT(get(LC_HTTP_GET, ROOM, "file-key-987"), 0); /* accepted: waits for the store */
    CHECK_EQ_INT(get(LC_HTTP_GET, ROOM, KEY), 401);
    unlink(path);
    teardown();
    setup(NULL);
    lc_api_destroy(srv.api);
    snprintf(srv.cfg.api_key_file, sizeof(srv.cfg.api_key_file), "%s", path);
    srv.api = lc_api_create(&srv.cfg); /* unreadable: refuse to start */
    CHECK(srv.api == NULL);
    teardown();
    char huge[1100];
    memset(huge, 'k', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    setup(huge);
    CHECK(srv.api == NULL);
    teardown();
    unsetenv("LIVECART_API_KEY");
}

static void test_api_statuses_are_counted_by_class(void) {
    lc_metrics_t m = {0};
    /* 2xx together; each status the API answers with alone (504 "it may have happened" too) */
    const unsigned st[] = {200, 202, 400, 401, 404, 405, 409, 411, 413, 422, 503, 504, 500, 418};
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) lc_metrics_api(&m, st[i]);
    CHECK_EQ_INT(m.api[0], 2);
    for (int i = 1; i < LC_API__COUNT - 1; i++) CHECK_EQ_INT(m.api[i], 1);
    CHECK_EQ_INT(m.api[LC_API__COUNT - 1], 2); /* other: 500, 418 */
}

static void test_the_route_covers_all_of_api_and_the_demo_shop(void) {
    setup(KEY);
    stub_routes_reset();
    CHECK_EQ_INT(lc_api_routes(srv.api, &srv), 0);
    /* /demo/ is routed in both modes (so that it is 404, not a static file's 405, with tokens) */
    CHECK(stub_routes() == 2 && strcmp(stub_route_pattern(0), "/demo/") == 0 &&
          strcmp(stub_route_pattern(1), "/api/") == 0 && stub_route_fn(1) == lc_api_handle);
    teardown();
}

int main(void) {
    RUN(test_api_off_is_404_everywhere);
    RUN(test_unknown_paths_are_404);
    RUN(test_wrong_methods_are_405_with_allow);
    RUN(test_a_missing_or_wrong_key_is_401_with_www_authenticate);
    RUN(test_body_framing_and_size_refusals_in_order);
    RUN(test_bad_bodies_are_400_with_a_message_and_post_nothing);
    RUN(test_idempotency_keys_are_1_to_64_visible_ascii);
    RUN(test_a_post_goes_to_the_store_and_its_reply_decides_the_answer);
    RUN(test_a_product_post_carries_its_fields_and_redis_down_is_503);
    RUN(test_a_chunked_post_is_accepted_and_bad_chunking_is_400);
    RUN(test_room_state_becomes_the_api_json);
    RUN(test_an_orphaned_request_is_dropped_uncounted);
    RUN(test_every_request_is_answered_once);
    RUN(test_the_key_comes_from_a_file_or_the_environment);
    RUN(test_api_statuses_are_counted_by_class);
    RUN(test_the_route_covers_all_of_api_and_the_demo_shop);
    return lc_test_done();
}
