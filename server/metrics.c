#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>

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
    one(out, "livecart_draining", "gauge", "1 while shutting down.", srv->draining != 0);
    return 0;
}
