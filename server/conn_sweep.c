/*
 * The connections' timers: keepalive, stuck sockets and the paced closes of
 * a drain. See conn.h.
 */
#include <stdint.h>

#include "conn.h"
#include "conn_int.h"

/* 1 if c has waited on its socket for --write-timeout-ms and the socket
 * took no bytes since the last look (a second ago). A reader that still
 * reads, however slowly, makes progress and keeps its connection (a lapped
 * one gets `gap` as before); one that never reads is cut, and what it
 * pinned (kernel buffer, the transport's partial write, our queue) is freed. */
static int write_stalled(lc_conns_t *cs, lc_conn_t *c, uint64_t now_ms) {
    if (!c->want_write || !c->stall_ms) return 0;
    uint32_t q = cs->io->unsent(c->t);
    if (q != c->stall_outq) {
        if (c->stall_outq != UINT32_MAX) c->stall_ms = now_ms; /* it took bytes */
        c->stall_outq = q;
        return 0;
    }
    return now_ms - c->stall_ms >= cs->srv->cfg.write_timeout_ms;
}

/*
 * Keepalive and stuck sockets, run once a second. lws 4.1 has a keepalive
 * (its "validity" timers), but it keeps per-connection timers in a sorted
 * list, O(n) per re-arm: 10,000 viewers that joined together all ping in
 * the same second and the shard stalled for two seconds (measured). Ours
 * pings a connection once it has been silent for --ping-secs plus a
 * per-connection jitter of up to half that (so the pings of a crowd spread
 * out), on the normal write path, and cuts it if it stays silent 10 s after
 * the ping. Anything the client sends, pongs included, counts as life.
 */
void lc_conns_sweep(lc_conns_t *cs) {
    lc_server_t *srv = cs->srv;
    uint64_t now_ms = uv_now(srv->loop), now = now_ms / 1000;
    unsigned ping = srv->cfg.ping_secs;
    lc_list_foreach_safe(it, &cs->all) {
        lc_conn_t *c = LC_CONTAINER_OF(it, lc_conn_t, link);
        if (!c->t || c->killed) continue;
        if (write_stalled(cs, c, now_ms)) {
            srv->m.write_timeouts++;
            lc_conn_cut(c);
            continue;
        }
        if (c->close_wait) { /* the client did not answer our close frame */
            if ((uint32_t)now_ms - c->close_wait_at >= LC_CLOSE_WAIT_MS) {
                srv->m.close_wait_cuts++;
                lc_conn_cut(c);
            }
            continue;
        }
        if (c->close_code || c->close_sent) continue;
        uint64_t idle = now - c->last_rx;
        if (c->pinged && idle >= (uint64_t)c->pinged_after + 10) {
            srv->m.ping_timeouts++;
            lc_conn_cut(c);
        } else if (!c->pinged && idle >= ping + c->jitter) {
            c->pinged = 1;
            c->pinged_after = (uint32_t)idle;
            lc_conn_send(c, cs->ping);
        }
    }
}

/*
 * Shutdown without a storm: every connection learns, at once, when to come
 * back ({"type":"reconnect","after_ms":J}, J spread evenly over
 * --drain-ms), and is closed (1001) at that moment, so reconnects arrive at
 * the other shards paced, not all at once. Health checks already fail.
 */
void lc_conns_drain(lc_conns_t *cs) {
    lc_server_t *srv = cs->srv;
    uint64_t now = uv_now(srv->loop);
    unsigned n = cs->count, i = 0;
    lc_list_foreach(it, &cs->all) {
        lc_conn_t *c = LC_CONTAINER_OF(it, lc_conn_t, link);
        uint64_t after = n > 1 ? (uint64_t)srv->cfg.drain_ms * i / (n - 1) : 0;
        i++;
        c->close_at = now + after;
        if (c->state != LC_CONN_JOINED) continue;
        lc_msg_t m;
        lc_msg_init(&m, LC_MSG_RECONNECT);
        lc_msg_set(&m, after_ms, (int64_t)after);
        lc_conn_send_msg(c, &m);
    }
    lc_conns_drain_step(cs);
}

unsigned lc_conns_drain_step(lc_conns_t *cs) {
    uint64_t now = uv_now(cs->srv->loop);
    unsigned open = 0;
    lc_list_foreach(it, &cs->all) {
        lc_conn_t *c = LC_CONTAINER_OF(it, lc_conn_t, link);
        open++;
        if (now >= c->close_at) lc_conn_close(c, LC_CLOSE_GOING_AWAY, "server shutting down");
    }
    return open;
}
