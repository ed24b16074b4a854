/* /healthz, /metrics and the /live hint as handlers, with the store, the
 * rooms and auth reduced to the few values status.c reads. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "lc_test.h"
#include "room.h"
#include "status.h"
#include "store.h"
#include "stub_http.h"

struct lc_store {
    int up, sub_up;
    size_t pending;
    lc_store_latency_t lat;
    lc_store_stats_t st;
    int mode;
    const char *durability;
};
struct lc_auth {
    int open;
};

int lc_store_up(const lc_store_t *s) { return s->up; }
int lc_store_sub_up(const lc_store_t *s) { return s->sub_up; }
size_t lc_store_pending(const lc_store_t *s) { return s->pending; }
const lc_store_latency_t *lc_store_latency(const lc_store_t *s) { return &s->lat; }
void lc_store_stats(const lc_store_t *s, lc_store_stats_t *out) { *out = s->st; }
const char *lc_store_durability(const lc_store_t *s, int *mode) {
    if (mode) *mode = s->mode;
    return s->durability;
}
size_t lc_rooms_count(const lc_rooms_t *rs) {
    (void)rs;
    return 3;
}
int lc_auth_open_mode(const lc_auth_t *a) { return a->open; }

static lc_server_t srv;
static struct lc_store store;
static struct lc_auth auth;

static void reset(void) {
    memset(&srv, 0, sizeof(srv));
    memset(&store, 0, sizeof(store));
    store.up = store.sub_up = 1;
    store.mode = LC_STORE_DURABLE_FSYNC;
    store.durability = "fsync always: every ok is on disk";
    auth.open = 0;
    srv.store = &store;
    srv.auth = &auth;
}

/* Runs a handler; returns the request (the caller frees it). */
static lc_http_req_t *run(lc_http_handler_fn *fn, lc_http_method_t m) {
    lc_http_req_t *q = stub_req_new(m, "/x");
    stub_run(q, fn, &srv);
    return q;
}

static int says(lc_http_handler_fn *fn, unsigned status, const char *body) {
    lc_http_req_t *q = run(fn, LC_HTTP_GET);
    const stub_answer_t *a = stub_answer(q);
    int ok = a->answers == 1 && a->status == status && strcmp(a->body, body) == 0 &&
             strcmp(a->ctype, "text/plain; charset=utf-8") == 0;
    if (!ok) fprintf(stderr, "  got %u %s\n", a->status, a->body);
    stub_req_free(q);
    return ok;
}

static void test_healthz_says_ok_draining_or_redis_unavailable(void) {
    reset();
    CHECK(says(lc_status_healthz, 200, "ok\ndurability: fsync always: every ok is on disk\n"));
    auth.open = 1;
    CHECK(says(lc_status_healthz, 200,
               "ok\ndurability: fsync always: every ok is on disk\nopen mode: no token auth, roles as declared\n"));
    store.sub_up = 0;
    CHECK(says(lc_status_healthz, 503, "redis unavailable\n"));
    store.sub_up = 1;
    store.up = 0;
    CHECK(says(lc_status_healthz, 503, "redis unavailable\n"));
    srv.draining = 1;
    CHECK(says(lc_status_healthz, 503, "draining\n")); /* draining first: the balancer must stop */
    lc_http_req_t *q = run(lc_status_healthz, LC_HTTP_HEAD);
    CHECK(stub_answer(q)->nbody == 0 && stub_answer(q)->content_length == 9);
    stub_req_free(q);
}

static void test_healthz_says_which_primaries_are_out(void) {
    reset();
    store.st.nodes = 3;
    store.st.nodes_down = 1;
    CHECK(says(lc_status_healthz, 200,
               "ok\ndurability: fsync always: every ok is on disk\n"
               "degraded: 1 of 3 Redis primaries unreachable: their rooms are unavailable\n"));
}

static void test_metrics_render_the_counters_and_gauges(void) {
    reset();
    srv.m.conns_open = 4;
    srv.m.api[1] = 2;
    lc_metrics_api(&srv.m, 504); /* "it may have happened" has its own label */
    lc_metrics_api(&srv.m, 422);
    lc_metrics_api(&srv.m, 418); /* none: other */
    store.pending = 5;
    store.lat.le[0] = 2;
    store.lat.count = 2;
    store.st = (lc_store_stats_t){.moved = 7, .ack_short = 2, .nodes = 3, .nodes_down = 1};
    lc_http_req_t *q = run(lc_status_metrics, LC_HTTP_GET);
    const stub_answer_t *a = stub_answer(q);
    CHECK_EQ_INT(a->status, 200);
    CHECK(strcmp(a->ctype, "text/plain; version=0.0.4; charset=utf-8") == 0);
    const char *want[] = {"\nlivecart_connections 4\n", "\nlivecart_rooms 3\n", "\nlivecart_redis_up 1\n",
                          "\nlivecart_redis_pending 5\n", "livecart_api_requests_total{status=\"400\"} 2\n",
                          "livecart_api_requests_total{status=\"504\"} 1\n",
                          "livecart_api_requests_total{status=\"422\"} 1\n",
                          "livecart_api_requests_total{status=\"other\"} 1\n",
                          "livecart_redis_command_seconds_bucket{le=\"6.4e-05\"} 2\n",
                          "livecart_redis_command_seconds_bucket{le=\"+Inf\"} 2\n", "\nlivecart_draining 0\n",
                          "livecart_redis_durability{mode=\"fsync\"} 1\n",
                          "livecart_redis_redirects_total{kind=\"moved\"} 7\n", "\nlivecart_redis_ack_short_total 2\n",
                          "\nlivecart_redis_primaries 3\n", "\nlivecart_redis_primaries_down 1\n", NULL};
    for (int i = 0; want[i]; i++) {
        CHECK(strstr(a->body, want[i]) != NULL);
        if (!strstr(a->body, want[i])) fprintf(stderr, "  missing %s", want[i]);
    }
    CHECK_EQ_INT(srv.scratch.len, 0); /* the scratch buffer is not held */
    stub_req_free(q);
    lc_buf_free(&srv.scratch);
}

static void test_live_without_an_upgrade_says_how(void) {
    reset();
    CHECK(says(lc_status_live, 400, "WebSocket upgrade required: ws://HOST:PORT/live?room=ROOM\n"));
}

static void test_the_routes_are_exact_paths(void) {
    reset();
    stub_routes_reset();
    CHECK_EQ_INT(lc_status_routes(&srv), 0);
    CHECK_EQ_INT(stub_routes(), 3);
    CHECK(strcmp(stub_route_pattern(0), "/healthz") == 0 && stub_route_fn(0) == lc_status_healthz);
    CHECK(strcmp(stub_route_pattern(1), "/metrics") == 0 && stub_route_fn(1) == lc_status_metrics);
    CHECK(strcmp(stub_route_pattern(2), "/live") == 0 && stub_route_fn(2) == lc_status_live);
}

int main(void) {
    RUN(test_healthz_says_ok_draining_or_redis_unavailable);
    RUN(test_healthz_says_which_primaries_are_out);
    RUN(test_metrics_render_the_counters_and_gauges);
    RUN(test_live_without_an_upgrade_says_how);
    RUN(test_the_routes_are_exact_paths);
    return lc_test_done();
}
