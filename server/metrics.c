#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server.h"
#include "store.h"

static void put(lc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(lc_buf_t *b, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0) lc_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void family(lc_buf_t *b, const char *name, const char *type, const char *help) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(lc_buf_t *b, const char *name, const char *type, const char *help, unsigned long long v) {
    family(b, name, type, help);
    put(b, "%s %llu\n", name, v);
}

static const char *const order_st[LC_ORDER__COUNT] = {"ok",           "sold_out",    "limit",   "closed", "invalid",
                                                      "rate_limited", "unavailable", "unknown", "other"};
static const char *const join_st[LC_JOIN__COUNT] = {"joined",       "already",     "sold_out", "closed", "not_found",
                                                    "invalid",      "rate_limited", "unavailable", "unknown",
                                                    "other"};

static int status_index(const char *const *names, int count, const char *st, size_t n) {
    for (int i = 0; i < count - 1; i++)
        if (strlen(names[i]) == n && memcmp(names[i], st, n) == 0) return i;
    return count - 1;
}

void lc_metrics_order(lc_metrics_t *m, int group, const char *status, size_t n) {
    if (group)
        m->joins[status_index(join_st, LC_JOIN__COUNT, status, n)]++;
    else
        m->orders[status_index(order_st, LC_ORDER__COUNT, status, n)]++;
}

/* The Redis round-trip histogram, in seconds. */
static void latency(lc_buf_t *b, const lc_store_latency_t *l) {
    family(b, "livecart_redis_command_seconds", "histogram",
           "Redis command round trips, from sending to the reply.");
    uint64_t cum = 0;
    for (int i = 0; i < LC_STORE_LAT_BUCKETS - 1; i++) {
        cum += l->le[i];
        put(b, "livecart_redis_command_seconds_bucket{le=\"%g\"} %llu\n", (double)(64ull << i) / 1e6,
            (unsigned long long)cum);
    }
    put(b, "livecart_redis_command_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)l->count);
    put(b, "livecart_redis_command_seconds_sum %.6f\n", (double)l->sum_us / 1e6);
    put(b, "livecart_redis_command_seconds_count %llu\n", (unsigned long long)l->count);
}

int lc_metrics_render(const lc_server_t *srv, lc_buf_t *out) {
    const lc_metrics_t *m = &srv->m;
    one(out, "livecart_connections", "gauge", "Open WebSocket connections.", m->conns_open);
    one(out, "livecart_connections_total", "counter", "WebSocket connections accepted.", m->conns_total);
    one(out, "livecart_rooms", "gauge", "Rooms with state on this shard.", lc_map_size(srv->rooms));
    one(out, "livecart_frames_out_total", "counter", "WebSocket frames sent.", m->frames_out);
    one(out, "livecart_bytes_out_total", "counter", "Bytes sent on WebSocket connections.", m->bytes_out);
    family(out, "livecart_messages_in_total", "counter", "Client messages decoded, by type.");
    for (int t = 1; t < LC_MSG__COUNT; t++)
        if (m->msgs_in[t]) put(out, "livecart_messages_in_total{type=\"%s\"} %llu\n", lc_msg_type_name(t),
                               (unsigned long long)m->msgs_in[t]);
    family(out, "livecart_errors_total", "counter", "Error answers sent, by code.");
    for (int e = 1; e < LC_ERR__COUNT; e++)
        put(out, "livecart_errors_total{code=\"%s\"} %llu\n", lc_err_code_name(e), (unsigned long long)m->errors[e]);
    one(out, "livecart_gaps_total", "counter", "Slow readers skipped ahead (gap sent).", m->gaps);
    one(out, "livecart_slow_consumers_closed_total", "counter", "Slow readers closed (1008).", m->slow_closed);
    one(out, "livecart_reply_queue_closed_total", "counter", "Connections closed for unread replies.",
        m->queue_closed);
    one(out, "livecart_write_timeouts_total", "counter",
        "Connections cut because their socket took no bytes for --write-timeout-ms.", m->write_timeouts);
    one(out, "livecart_ping_timeouts_total", "counter", "Connections cut because they did not answer a ping.",
        m->ping_timeouts);
    one(out, "livecart_upgrades_refused_total", "counter", "WebSocket upgrades refused (400/404/429/503).",
        m->upgrades_refused);
    one(out, "livecart_ip_cap_refused_total", "counter", "Upgrades refused by --max-conns-per-ip.", m->ip_refused);
    one(out, "livecart_accept_rate_refused_total", "counter", "Upgrades refused by --max-accept-rate.",
        m->accept_refused);
    one(out, "livecart_redis_failures_total", "counter", "Redis requests that failed or were lost.",
        m->redis_failures);
    one(out, "livecart_redis_up", "gauge", "1 while both Redis connections are up.",
        lc_store_up(srv->store) && lc_store_sub_up(srv->store));
    one(out, "livecart_redis_pending", "gauge", "Redis commands awaiting a reply.", lc_store_pending(srv->store));
    static const char *const api_codes[7] = {"2xx", "400", "401", "404", "413", "503", "other"};
    family(out, "livecart_api_requests_total", "counter", "Publish API answers, by status.");
    for (int i = 0; i < 7; i++)
        put(out, "livecart_api_requests_total{status=\"%s\"} %llu\n", api_codes[i], (unsigned long long)m->api[i]);
    latency(out, lc_store_latency(srv->store));
    family(out, "livecart_orders_total", "counter", "Answers to buys, by status.");
    for (int i = 0; i < LC_ORDER__COUNT; i++)
        put(out, "livecart_orders_total{status=\"%s\"} %llu\n", order_st[i], (unsigned long long)m->orders[i]);
    family(out, "livecart_group_joins_total", "counter", "Answers to group joins, by status.");
    for (int i = 0; i < LC_JOIN__COUNT; i++)
        put(out, "livecart_group_joins_total{status=\"%s\"} %llu\n", join_st[i], (unsigned long long)m->joins[i]);
    one(out, "livecart_draining", "gauge", "1 while shutting down.", srv->draining != 0);
    return 0;
}
