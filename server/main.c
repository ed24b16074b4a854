/*
 * livecart-server: one shard. main owns the loop, the config and the
 * signals, creates every module in dependency order (the only place
 * besides feature_list.c that knows them all) and tears them down in reverse.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "conn.h"
#include "feature_list.h"
#include "filter.h"
#include "http.h"
#include "httpparse.h"
#include "log.h"
#include "net.h"
#include "room.h"
#include "server.h"
#include "session.h"
#include "static.h"
#include "status.h"
#include "store.h"
#include "upgrade.h"

/* main's own: the lifecycle's handles (on main's stack, like the server). */
typedef struct lc_main {
    lc_server_t srv;
    uv_timer_t tick, sweep, stop_timer;
    uv_signal_t sigterm, sigint, sighup;
    uint64_t drain_deadline;
    int handles_open;
} lc_main_t;

static void on_store_state(void *arg) { lc_rooms_on_store_state(((lc_server_t *)arg)->rooms); }
static void on_subscribed(void *arg, lc_str_t room) { lc_rooms_on_subscribed(((lc_server_t *)arg)->rooms, room); }
static void on_sub_lost(void *arg, lc_str_t room) { lc_rooms_on_sub_lost(((lc_server_t *)arg)->rooms, room); }
static void on_message(void *arg, lc_str_t room, const char *p, size_t len) {
    lc_rooms_on_message(((lc_server_t *)arg)->rooms, room, p, len);
}

static void on_tick(uv_timer_t *t) { lc_rooms_tick(((lc_main_t *)t->data)->srv.rooms); }
static void on_sweep(uv_timer_t *t) {
    lc_server_t *srv = &((lc_main_t *)t->data)->srv;
    lc_auth_sweep(srv->auth, srv->conns);
    lc_conns_sweep(srv->conns);
}
static void on_sighup(uv_signal_t *s, int signum) { lc_filter_reload(((lc_main_t *)s->data)->srv.filter); }

static void on_handle_closed(uv_handle_t *h) { ((lc_main_t *)h->data)->handles_open--; }

/* The last step of shutdown: connections are closed and counts flushed (or
 * the drain deadline passed). Tear down in dependency order: the network
 * first (its close callbacks touch rooms), then Redis (its failure
 * callbacks touch rooms), then the rooms. */
static void finish(lc_main_t *mn) {
    lc_server_t *srv = &mn->srv;
    uv_timer_stop(&mn->stop_timer);
    uv_timer_stop(&mn->tick);
    if (!lc_rooms_flushed(srv->rooms)) lc_log("shutdown: drain deadline passed before every count was flushed");
    lc_net_stop(srv->net);
    lc_conns_destroy(srv->conns);
    lc_store_destroy(srv->store);
    srv->store = NULL;
    lc_rooms_destroy(srv->rooms);
    srv->rooms = NULL;
    uv_handle_t *hs[] = {(uv_handle_t *)&mn->tick,       (uv_handle_t *)&mn->sigterm, (uv_handle_t *)&mn->sigint,
                         (uv_handle_t *)&mn->stop_timer, (uv_handle_t *)&mn->sighup,  (uv_handle_t *)&mn->sweep};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) uv_close(hs[i], on_handle_closed);
    lc_log("bye: %llu connections served, %llu frames and %llu bytes sent",
           (unsigned long long)srv->m.conns_total, (unsigned long long)srv->m.frames_out,
           (unsigned long long)srv->m.bytes_out);
}

static void on_stop_check(uv_timer_t *t) {
    lc_main_t *mn = t->data;
    lc_server_t *srv = &mn->srv;
    lc_conns_drain_step(srv->conns);
    lc_rooms_tick(srv->rooms); /* flush now: don't wait a whole tick, it may be long */
    int done = !lc_net_alive(srv->net) && !lc_http_pending(srv->http) && lc_rooms_flushed(srv->rooms);
    if (done || uv_now(srv->loop) >= mn->drain_deadline) finish(mn);
}

static void on_signal(uv_signal_t *s, int signum) {
    lc_main_t *mn = s->data;
    lc_server_t *srv = &mn->srv;
    if (srv->draining) return;
    srv->draining = 1;
    /* the paced closes, then up to 3 s more to flush counts to Redis */
    mn->drain_deadline = uv_now(srv->loop) + srv->cfg.drain_ms + 3000;
    lc_log("%s: draining %u connections over %u ms", signum == SIGTERM ? "SIGTERM" : "SIGINT",
           lc_conns_count(srv->conns), srv->cfg.drain_ms);
    /* health checks fail from now on; connections close with 1001; the
     * tick keeps running to flush likes and remove this shard's viewers */
    lc_conns_drain(srv->conns);
    uv_timer_start(&mn->stop_timer, on_stop_check, 20, 20);
}

static void make_boot_id(char *out, size_t cap) {
    unsigned long long v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        v = (unsigned long long)time(NULL) * 2654435761u ^ (unsigned long long)getpid();
    if (fd >= 0) close(fd);
    snprintf(out, cap, "%016llx", v);
}

/* Every module, in dependency order. 0, or -1 (the reason logged). */
static int create_modules(lc_server_t *srv) {
    if (!(srv->auth = lc_auth_create(&srv->cfg)) || !(srv->api = lc_api_create(&srv->cfg)) ||
        !(srv->filter = lc_filter_create(srv->cfg.blocklist)) || !(srv->upgrade = lc_upgrade_create(srv)) ||
        !(srv->conns = lc_conns_create(srv, &lc_net_conn_io)) || !(srv->rooms = lc_rooms_create(srv, lc_features)) ||
        !(srv->session = lc_session_create(srv, lc_features)) || !(srv->http = lc_http_create(srv)))
        return -1;
    if (lc_status_routes(srv) != 0 || lc_api_routes(srv->api, srv) != 0 || lc_static_routes(srv) != 0) return -1;
    const lc_config_t *cfg = &srv->cfg;
    lc_store_events_t ev = {.on_state = on_store_state, .on_subscribed = on_subscribed,
                            .on_sub_lost = on_sub_lost, .on_message = on_message};
    lc_store_addr_t seeds[LC_CLUSTER_SEEDS_MAX];
    lc_store_opts_t opts = {.seeds = seeds, .nseeds = (size_t)cfg->ncluster, .timeout_ms = cfg->redis_timeout_ms,
                            .ack_replicas = cfg->ncluster ? cfg->ack_replicas : 0, .ack_timeout_ms = cfg->ack_timeout_ms};
    if (strlen(cfg->redis_host) >= sizeof(opts.redis.host)) return -1; /* numeric: never */
    memcpy(opts.redis.host, cfg->redis_host, strlen(cfg->redis_host) + 1);
    opts.redis.port = cfg->redis_port;
    for (int i = 0; i < cfg->ncluster; i++) {
        memcpy(seeds[i].host, cfg->cluster_hosts[i], sizeof(seeds[i].host)); /* both char[64] */
        seeds[i].port = cfg->cluster_ports[i];
    }
    if (!(srv->store = lc_store_create(srv->loop, &opts, &ev, srv))) return -1;
    return lc_net_start(srv) ? 0 : -1;
}

static void start_handles(lc_main_t *mn) {
    uv_loop_t *loop = mn->srv.loop;
    uv_timer_init(loop, &mn->tick);
    uv_timer_init(loop, &mn->stop_timer);
    uv_timer_init(loop, &mn->sweep);
    uv_signal_init(loop, &mn->sigterm);
    uv_signal_init(loop, &mn->sigint);
    uv_signal_init(loop, &mn->sighup);
    mn->tick.data = mn->stop_timer.data = mn->sweep.data = mn;
    mn->sigterm.data = mn->sigint.data = mn->sighup.data = mn;
    mn->handles_open = 6;
    uv_timer_start(&mn->tick, on_tick, mn->srv.cfg.tick_ms, mn->srv.cfg.tick_ms);
    uv_timer_start(&mn->sweep, on_sweep, 1000, 1000);
    uv_signal_start(&mn->sighup, on_sighup, SIGHUP);
    uv_signal_start(&mn->sigterm, on_signal, SIGTERM);
    uv_signal_start(&mn->sigint, on_signal, SIGINT);
}

static void free_modules(lc_server_t *srv) {
    lc_http_destroy(srv->http);
    lc_session_destroy(srv->session);
    lc_upgrade_destroy(srv->upgrade);
    lc_filter_destroy(srv->filter);
    lc_api_destroy(srv->api);
    lc_auth_destroy(srv->auth);
    lc_buf_free(&srv->scratch);
}

int main(int argc, char **argv) {
    lc_main_t mn;
    memset(&mn, 0, sizeof(mn));
    lc_server_t *srv = &mn.srv;
    int rc = lc_config_parse(&srv->cfg, argc, argv, stdout, stderr);
    if (rc != 0) return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        lc_log("cannot create the event loop");
        return 1;
    }
    srv->loop = &loop;
    make_boot_id(srv->boot, sizeof(srv->boot));
    if (create_modules(srv) != 0) return 1;
    start_handles(&mn);
    char redis[600];
    if (srv->cfg.ncluster)
        snprintf(redis, sizeof(redis), "redis cluster %s", srv->cfg.redis_cluster);
    else
        snprintf(redis, sizeof(redis), "redis %s:%d", srv->cfg.redis_host, srv->cfg.redis_port);
    lc_log("livecart-server listening on %s://%s:%d/live (shard %s, %s, tick %u ms)",
           srv->cfg.tls_cert[0] ? "wss" : "ws", srv->cfg.bind, srv->cfg.port, srv->cfg.shard, redis,
           srv->cfg.tick_ms);
    if (!srv->cfg.max_conns_per_ip && !lc_http_addr_is_loopback(srv->cfg.bind))
        lc_log("WARNING: --max-conns-per-ip is off on --bind %s: one client address may open any number "
               "of connections (deploy/ sets 200)", srv->cfg.bind);
    uv_run(&loop, UV_RUN_DEFAULT);

    lc_net_free(srv->net);
    uv_run(&loop, UV_RUN_DEFAULT); /* handles lws closed in its last step */
    if (uv_loop_close(&loop) != 0) lc_log("loop closed with handles still open");
    free_modules(srv);
    return 0;
}
