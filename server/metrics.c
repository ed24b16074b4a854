#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The exposition being written: the first failed append is remembered and
 * everything after it skipped, so that the renderer checks once. */
typedef struct out {
    lc_buf_t *b;
    int err;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
    char line[512];
    if (o->err) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* every line is ours and short: a longer one is a bug, not data */
    if (n < 0 || (size_t)n >= sizeof(line) || lc_buf_append(o->b, line, (size_t)n) != 0) o->err = 1;
}

static void family(out_t *o, const char *name, const char *type, const char *help) {
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(out_t *o, const char *name, const char *type, const char *help, unsigned long long v) {
    family(o, name, type, help);
    put(o, "%s %llu\n", name, v);
}

static const char *const order_st[LC_ORDER__COUNT] = {"ok",          "reserved", "sold_out",     "limit",
                                                      "closed",      "invalid",  "coupon_invalid", "rate_limited",
                                                      "req_reused",  "unavailable", "unknown",    "other"};
static const char *const at_shard[LC_AT_SHARD__COUNT] = {"buy", "claim"};
static const char *const claim_st[LC_CLAIM__COUNT] = {"ok",         "gone",       "limit",       "closed",  "invalid",
                                                      "rate_limited", "req_reused", "unavailable", "unknown", "other"};
static const char *const res_st[LC_RES__COUNT] = {"paid", "expired", "cancelled"};
static const char *const coupon_ev[LC_COUPON__COUNT] = {"claimed", "used"};
static const char *const join_st[LC_JOIN__COUNT] = {"joined",       "already",      "sold_out",   "closed",
                                                    "not_found",    "invalid",      "rate_limited", "req_reused",
                                                    "unavailable",  "unknown",      "other"};
/* every status the API answers with has its own label; 504 is "it may have happened" */
static const char *const api_st[LC_API__COUNT] = {"2xx", "400", "401", "404", "405", "409", "411",
                                                  "413", "422", "503", "504", "other"};

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

void lc_metrics_claim(lc_metrics_t *m, const char *status, size_t n) {
    m->claims[status_index(claim_st, LC_CLAIM__COUNT, status, n)]++;
}

void lc_metrics_api(lc_metrics_t *m, unsigned status) {
    char code[8];
    int n = snprintf(code, sizeof(code), "%u", status);
    int i = status >= 200 && status < 300 ? 0 : status_index(api_st, LC_API__COUNT, code, n > 0 ? (size_t)n : 0);
    m->api[i]++;
}

/* A latency histogram, in seconds, with cumulative buckets. */
static void latency(out_t *o, const lc_metrics_hist_t *l) {
    family(o, "livecart_redis_command_seconds", "histogram", "Redis command round trips, from sending to the reply.");
    uint64_t cum = 0;
    for (size_t i = 0; l->le && i + 1 < l->nle; i++) {
        cum += l->le[i];
        put(o, "livecart_redis_command_seconds_bucket{le=\"%g\"} %llu\n", (double)(64ull << i) / 1e6,
            (unsigned long long)cum);
    }
    put(o, "livecart_redis_command_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)l->count);
    put(o, "livecart_redis_command_seconds_sum %.6f\n", (double)l->sum_us / 1e6);
    put(o, "livecart_redis_command_seconds_count %llu\n", (unsigned long long)l->count);
}

static void by_label(out_t *o, const char *name, const char *help, const char *label, const char *const *names,
                     const uint64_t *v, int count) {
    family(o, name, "counter", help);
    for (int i = 0; i < count; i++)
        put(o, "%s{%s=\"%s\"} %llu\n", name, label, names[i], (unsigned long long)v[i]);
}

static void by_status(out_t *o, const char *name, const char *help, const char *const *names, const uint64_t *v,
                      int count) {
    by_label(o, name, help, "status", names, v, count);
}

/* WebSocket traffic: connections, frames, messages, errors. */
static void traffic(out_t *o, const lc_metrics_t *m, const lc_metrics_gauges_t *g) {
    one(o, "livecart_connections", "gauge", "Open WebSocket connections.", m->conns_open);
    one(o, "livecart_connections_total", "counter", "WebSocket connections accepted.", m->conns_total);
    one(o, "livecart_rooms", "gauge", "Rooms with state on this shard.", g->rooms);
    one(o, "livecart_frames_out_total", "counter", "WebSocket frames sent.", m->frames_out);
    one(o, "livecart_bytes_out_total", "counter", "Bytes sent on WebSocket connections.", m->bytes_out);
    one(o, "livecart_deflate_connections_total", "counter",
        "Connections that negotiated permessage-deflate.", m->deflate.conns);
    one(o, "livecart_deflate_frames_total", "counter",
        "Frames compressed: a shared one once per format, a connection's own from 512 bytes.", m->deflate.frames);
    one(o, "livecart_deflate_plain_total", "counter",
        "Frames a deflate connection got plain: control, too short, or no smaller.", m->deflate.plain);
    one(o, "livecart_deflate_in_bytes_total", "counter", "Payload bytes of compressed frames.",
        m->deflate.bytes_in);
    one(o, "livecart_deflate_out_bytes_total", "counter", "Their bytes once compressed.", m->deflate.bytes_out);
    one(o, "livecart_inflated_total", "counter", "Compressed client messages inflated.", m->deflate.inflated);
    family(o, "livecart_messages_in_total", "counter", "Client messages decoded, by type.");
    for (int t = 1; t < LC_MSG__COUNT; t++)
        if (m->msgs_in[t])
            put(o, "livecart_messages_in_total{type=\"%s\"} %llu\n", lc_msg_type_name((lc_msg_type_t)t),
                (unsigned long long)m->msgs_in[t]);
    family(o, "livecart_errors_total", "counter", "Error answers sent, by code.");
    for (int e = 1; e < LC_ERR__COUNT; e++)
        put(o, "livecart_errors_total{code=\"%s\"} %llu\n", lc_err_code_name((lc_err_code_t)e),
            (unsigned long long)m->errors[e]);
}

/* Connections we closed or refused, and why. */
static void closes(out_t *o, const lc_metrics_t *m) {
    one(o, "livecart_gaps_total", "counter", "Slow readers skipped ahead (gap sent).", m->gaps);
    one(o, "livecart_slow_consumers_closed_total", "counter", "Slow readers closed (1008).", m->slow_closed);
    one(o, "livecart_reply_queue_closed_total", "counter", "Connections closed for unread replies.", m->queue_closed);
    one(o, "livecart_write_timeouts_total", "counter",
        "Connections cut because their socket took no bytes for --write-timeout-ms.", m->write_timeouts);
    one(o, "livecart_ping_timeouts_total", "counter", "Connections cut because they did not answer a ping.",
        m->ping_timeouts);
    one(o, "livecart_close_wait_cuts_total", "counter",
        "Connections cut because they did not answer our close frame within 2 s.", m->close_wait_cuts);
    one(o, "livecart_upgrades_refused_total", "counter", "WebSocket upgrades refused (400/404/429/503).",
        m->upgrades_refused);
    one(o, "livecart_ip_cap_refused_total", "counter", "Upgrades refused by --max-conns-per-ip.", m->ip_refused);
    one(o, "livecart_accept_rate_refused_total", "counter", "Upgrades refused by --max-accept-rate.",
        m->accept_refused);
}

/* The funnel of the rooms this shard reports: sum() over shards is over rooms. */
static void funnel(out_t *o, const lc_metrics_t *m) {
    static const char *const fig[LC_FUNNEL__COUNT][2] = {
        {"rooms", "Rooms whose funnel this shard reports (one shard per room)."},
        {"viewers", "Viewers joined now, over the reported rooms."},
        {"viewers_peak", "The rooms' peak viewers, summed."},
        {"viewers_unique", "Distinct viewers per room (HyperLogLog, 0.81 %), summed."},
        {"engaged", "Distinct users who commented or liked, per room (HyperLogLog), summed."},
        {"buyers", "Users with an ok order, per room, summed."},
        {"orders", "Ok orders of the reported rooms."},
        {"units", "Units of those orders."},
        {"revenue_cents", "Value of those orders, in cents."},
    };
    char name[64];
    for (int i = 0; i < LC_FUNNEL__COUNT; i++) {
        snprintf(name, sizeof(name), "livecart_funnel_%s", fig[i][0]);
        one(o, name, "gauge", fig[i][1], (uint64_t)(m->funnel[i] > 0 ? m->funnel[i] : 0));
    }
}

/* What an ok is worth, and what the cluster router did. */
static void redis_cluster(out_t *o, const lc_metrics_gauges_t *g) {
    family(o, "livecart_redis_durability", "gauge",
           "1 for the rule an ok answer to a buy, cancel or group join was made durable by.");
    put(o, "livecart_redis_durability{mode=\"%s\"} 1\n", g->durability ? g->durability : "unknown");
    family(o, "livecart_redis_redirects_total", "counter", "Cluster redirections followed, by kind.");
    put(o, "livecart_redis_redirects_total{kind=\"moved\"} %llu\n", (unsigned long long)g->moved);
    put(o, "livecart_redis_redirects_total{kind=\"ask\"} %llu\n", (unsigned long long)g->asked);
    put(o, "livecart_redis_redirects_total{kind=\"tryagain\"} %llu\n", (unsigned long long)g->tryagain);
    one(o, "livecart_redis_ack_short_total", "counter",
        "Durable answers turned unknown: fewer than --ack-replicas replicas in time.", g->ack_short);
    one(o, "livecart_redis_map_refreshes_total", "counter", "Cluster slot maps learnt.", g->map_refreshes);
    one(o, "livecart_redis_primaries", "gauge", "Redis primaries serving slots (1 without a cluster).",
        g->primaries);
    one(o, "livecart_redis_primaries_down", "gauge", "Of those, the ones this shard cannot reach.",
        g->primaries_down);
}

int lc_metrics_render(const lc_metrics_t *m, const lc_metrics_gauges_t *g, lc_buf_t *out) {
    out_t o = {out, 0};
    traffic(&o, m, g);
    closes(&o, m);
    one(&o, "livecart_redis_failures_total", "counter", "Redis requests that failed or were lost.", m->redis_failures);
    one(&o, "livecart_redis_up", "gauge", "1 while commands and subscriptions can be sent to Redis.",
        g->redis_up != 0);
    redis_cluster(&o, g);
    one(&o, "livecart_redis_pending", "gauge", "Redis commands awaiting a reply.", g->redis_pending);
    by_status(&o, "livecart_api_requests_total", "Publish API answers, by status.", api_st, m->api, LC_API__COUNT);
    latency(&o, &g->latency);
    by_status(&o, "livecart_orders_total", "Answers to buys, by status.", order_st, m->orders, LC_ORDER__COUNT);
    by_status(&o, "livecart_group_joins_total", "Answers to group joins, by status.", join_st, m->joins,
              LC_JOIN__COUNT);
    by_status(&o, "livecart_coupon_claims_total", "Answers to coupon claims, by status.", claim_st, m->claims,
              LC_CLAIM__COUNT);
    by_label(&o, "livecart_reservations_total", "Reservations settled, by outcome.", "outcome", res_st,
             m->reservations, LC_RES__COUNT);
    by_label(&o, "livecart_coupons_total", "Coupons claimed, and redeemed in buys.",
             "event", coupon_ev, m->coupons, LC_COUPON__COUNT);
    by_label(&o, "livecart_answered_at_shard_total",
             "Buys and coupon claims answered without Redis (heard sold out, closed or gone).", "kind", at_shard,
             m->at_shard, LC_AT_SHARD__COUNT);
    funnel(&o, m);
    one(&o, "livecart_draining", "gauge", "1 while shutting down.", g->draining != 0);
    return o.err ? -1 : 0;
}
