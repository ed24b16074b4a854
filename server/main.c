/*
 * livecart-server: one shard. main owns the loop, the config and the
 * signals; everything else gets the server context.
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
#include "filter.h"
#include "httpparse.h"
#include "log.h"
#include "net.h"
#include "room.h"
#include "server.h"
#include "store.h"

static void on_store_state(void *arg) { lc_rooms_on_store_state(arg); }
static void on_subscribed(void *arg, const char *room, size_t n) { lc_rooms_on_subscribed(arg, room, n); }
static void on_message(void *arg, const char *room, size_t n, const char *p, size_t len) {
    lc_rooms_on_message(arg, room, n, p, len);
}

static void on_tick(uv_timer_t *t) { lc_rooms_tick(t->data); }
static void on_sweep(uv_timer_t *t) {
    lc_auth_sweep(t->data);
    lc_net_keepalive(t->data);
}
static void on_sighup(uv_signal_t *s, int signum) { lc_filter_load(s->data); }

static void on_handle_closed(uv_handle_t *h) {
    lc_server_t *srv = h->data;
    srv->handles_open--;
}

/* The last step of shutdown: connections are closed and counts flushed (or
 * the drain deadline passed). Tear down in dependency order: the network
 * first (its close callbacks touch rooms), then Redis (its failure
 * callbacks touch rooms), then the rooms. */
static void finish(lc_server_t *srv) {
    uv_timer_stop(&srv->stop_timer);
    uv_timer_stop(&srv->tick);
    if (!lc_rooms_flushed(srv)) lc_log("shutdown: drain deadline passed before every count was flushed");
    lc_net_stop(srv);
    lc_store_destroy(srv->store);
    srv->store = NULL;
    lc_rooms_destroy_all(srv);
    uv_handle_t *hs[] = {(uv_handle_t *)&srv->tick,       (uv_handle_t *)&srv->sigterm,
                         (uv_handle_t *)&srv->sigint,     (uv_handle_t *)&srv->stop_timer,
                         (uv_handle_t *)&srv->sighup,     (uv_handle_t *)&srv->sweep};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) uv_close(hs[i], on_handle_closed);
    lc_log("bye: %llu connections served, %llu frames and %llu bytes sent",
           (unsigned long long)srv->m.conns_total, (unsigned long long)srv->m.frames_out,
           (unsigned long long)srv->m.bytes_out);
}

static void on_stop_check(uv_timer_t *t) {
    lc_server_t *srv = t->data;
    lc_net_drain_step(srv);
    lc_rooms_tick(srv); /* flush now: don't wait a whole tick, it may be long */
    if ((!srv->ws_alive && !srv->api_pending && lc_rooms_flushed(srv)) || uv_now(srv->loop) >= srv->drain_deadline)
        finish(srv);
}

static void on_signal(uv_signal_t *s, int signum) {
    lc_server_t *srv = s->data;
    if (srv->draining) return;
    srv->draining = 1;
    /* the paced closes, then up to 3 s more to flush counts to Redis */
    srv->drain_deadline = uv_now(srv->loop) + srv->cfg.drain_ms + 3000;
    unsigned n = 0;
    for (lc_conn_t *c = srv->conns; c; c = c->next) n++;
    lc_log("%s: draining %u connections over %u ms", signum == SIGTERM ? "SIGTERM" : "SIGINT", n,
           srv->cfg.drain_ms);
    /* health checks fail from now on; connections close with 1001; the
     * tick keeps running to flush likes and remove this shard's viewers */
    lc_net_drain(srv);
    uv_timer_start(&srv->stop_timer, on_stop_check, 20, 20);
}

static void make_boot_id(char *out, size_t cap) {
    unsigned long long v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        v = (unsigned long long)time(NULL) * 2654435761u ^ (unsigned long long)getpid();
    if (fd >= 0) close(fd);
    snprintf(out, cap, "%016llx", v);
}

int main(int argc, char **argv) {
    lc_server_t srv;
    memset(&srv, 0, sizeof(srv));
    int rc = lc_config_parse(&srv.cfg, argc, argv, stdout, stderr);
    if (rc != 0) return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        lc_log("cannot create the event loop");
        return 1;
    }
    srv.loop = &loop;
    make_boot_id(srv.boot, sizeof(srv.boot));
    srv.rooms = lc_map_create();
    srv.ips = lc_map_create();
    srv.wbuf = malloc(LC_WRITE_BATCH);
    if (!srv.rooms || !srv.ips || !srv.wbuf) {
        lc_log("out of memory at start");
        return 1;
    }
    if (lc_auth_init(&srv) != 0 || lc_api_init(&srv) != 0) return 1;
    if (srv.cfg.blocklist[0] && lc_filter_load(&srv) != 0) return 1;
    lc_store_events_t ev = {on_store_state, on_subscribed, on_message};
    srv.store = lc_store_create(&loop, srv.cfg.redis_host, srv.cfg.redis_port, srv.cfg.redis_timeout_ms,
                                &ev, &srv);
    if (!srv.store || lc_net_start(&srv) != 0) return 1;

    uv_timer_init(&loop, &srv.tick);
    uv_timer_init(&loop, &srv.stop_timer);
    uv_signal_init(&loop, &srv.sigterm);
    uv_signal_init(&loop, &srv.sigint);
    uv_signal_init(&loop, &srv.sighup);
    uv_timer_init(&loop, &srv.sweep);
    srv.tick.data = srv.stop_timer.data = srv.sigterm.data = srv.sigint.data = &srv;
    srv.sighup.data = srv.sweep.data = &srv;
    srv.handles_open = 6;
    uv_timer_start(&srv.tick, on_tick, srv.cfg.tick_ms, srv.cfg.tick_ms);
    uv_timer_start(&srv.sweep, on_sweep, 1000, 1000);
    uv_signal_start(&srv.sighup, on_sighup, SIGHUP);
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv.sigint, on_signal, SIGINT);

    lc_log("livecart-server listening on %s://%s:%d/live (shard %s, redis %s:%d, tick %u ms)",
           srv.cfg.tls_cert[0] ? "wss" : "ws", srv.cfg.bind, srv.cfg.port, srv.cfg.shard,
           srv.cfg.redis_host, srv.cfg.redis_port, srv.cfg.tick_ms);
    if (!srv.cfg.max_conns_per_ip && !lc_http_addr_is_loopback(srv.cfg.bind))
        lc_log("WARNING: --max-conns-per-ip is off on --bind %s: one client address may open any number "
               "of connections (deploy/ sets 200)", srv.cfg.bind);
    uv_run(&loop, UV_RUN_DEFAULT);

    lc_net_free(&srv);
    uv_run(&loop, UV_RUN_DEFAULT); /* handles lws closed in its last step */
    if (uv_loop_close(&loop) != 0) lc_log("loop closed with handles still open");
    lc_map_destroy(srv.rooms);
    lc_map_destroy(srv.ips);
    lc_filter_free(&srv);
    lc_buf_free(&srv.scratch);
    free(srv.wbuf);
    return 0;
}
