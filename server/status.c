#include "status.h"

#include "auth.h"
#include "log.h"
#include "metrics.h"
#include "room.h"
#include "store.h"

/* 200 "ok" while this shard can serve, then what its answers are worth:
 * the durability line, a degraded cluster, open mode. */
void lc_status_healthz(void *arg, lc_http_req_t *q) {
    lc_server_t *srv = arg;
    if (srv->draining) {
        lc_http_text(q, 503, "draining\n");
        return;
    }
    if (!lc_store_up(srv->store) || !lc_store_sub_up(srv->store)) {
        lc_http_text(q, 503, "redis unavailable\n");
        return;
    }
    lc_store_stats_t st;
    lc_store_stats(srv->store, &st);
    char body[512];
    int n = snprintf(body, sizeof(body), "ok\ndurability: %s\n", lc_store_durability(srv->store, NULL));
    if (st.nodes_down && n > 0 && (size_t)n < sizeof(body))
        n += snprintf(body + n, sizeof(body) - (size_t)n,
                      "degraded: %u of %u Redis primaries unreachable: their rooms are unavailable\n",
                      st.nodes_down, st.nodes);
    if (lc_auth_open_mode(srv->auth) && n > 0 && (size_t)n < sizeof(body))
        snprintf(body + n, sizeof(body) - (size_t)n, "open mode: no token auth, roles as declared\n");
    lc_http_text(q, 200, body);
}

static const char *const durable_names[] = {"unknown", "none", "everysec", "fsync", "replicas"};

void lc_status_metrics(void *arg, lc_http_req_t *q) {
    lc_server_t *srv = arg;
    const lc_store_latency_t *l = lc_store_latency(srv->store);
    lc_store_stats_t st;
    lc_store_stats(srv->store, &st);
    int mode;
    lc_store_durability(srv->store, &mode);
    lc_metrics_gauges_t g = {
        .rooms = lc_rooms_count(srv->rooms),
        .redis_up = lc_store_up(srv->store) && lc_store_sub_up(srv->store),
        .redis_pending = lc_store_pending(srv->store),
        .latency = {l->le, LC_STORE_LAT_BUCKETS, l->count, l->sum_us},
        .draining = srv->draining,
        .durability = mode >= 0 && mode < 5 ? durable_names[mode] : "unknown",
        .moved = st.moved, .asked = st.asked, .tryagain = st.tryagain,
        .ack_short = st.ack_short, .map_refreshes = st.refreshes,
        .primaries = st.nodes, .primaries_down = st.nodes_down,
    };
    /* the scratch buffer: filled and sent within this call (the answer is
     * copied), so a scrape allocates nothing once it has grown */
    lc_buf_t *b = &srv->scratch;
    lc_buf_reset(b);
    if (lc_metrics_render(&srv->m, &g, b) != 0) {
        lc_log("metrics: out of memory");
        lc_buf_reset(b);
        lc_http_text(q, 503, "out of memory\n");
        return;
    }
    lc_http_respond(q, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, 0, b->p, b->len);
    lc_buf_reset(b);
}

int lc_status_routes(lc_server_t *srv) {
    return lc_http_route(srv->http, "/healthz", lc_status_healthz, srv) ||
                   lc_http_route(srv->http, "/metrics", lc_status_metrics, srv) ||
                   lc_http_route(srv->http, "/live", lc_status_live, srv)
               ? -1
               : 0;
}

void lc_status_live(void *arg, lc_http_req_t *q) {
    (void)arg;
    lc_http_text(q, 400, "WebSocket upgrade required: ws://HOST:PORT/live?room=ROOM\n");
}
