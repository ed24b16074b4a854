/*
 * Scenario "coupon" (抢券, PROTOCOL.md "Coupon drops"): N claimers race for
 * a coupon drop.
 *
 * Every claimer joins the room (spread over the --url/--shards shards), then
 * a streamer drops one coupon (--quota Q, --per-user K, --window S) and every
 * claimer starts claiming the moment the `coupon` message arrives, one claim
 * at a time, a new req each, until it is answered `gone` or `limit`: it asks
 * for one more than K, so every user also meets its limit when the quota
 * lasts. `unknown` is asked again at once with the same req, `unavailable`
 * after UNAVAIL_MS and `rate_limited` after RATE_MS (nothing happened).
 * With --retry every 10th claimer lets its connection go right after its
 * first claim (its answer is lost with it), joins again through the next
 * shard and sends the same req: the answer is the first decision. When every
 * claim is decided each claimer asks for its coupons (`coupons`), and the
 * room gets a moment for the last coupon_left / coupon_gone.
 *
 * Checks (scen_coupon_report.c): ok claims == min(Q, N x K) exactly, never
 * above Q, no user above K, the server's my_coupons agrees with every
 * claimer, the `left` of the ok answers are distinct, every connection got
 * coupon_gone at most once (exactly once when the quota ran out and it was
 * in the room while the coupon was claimable: joined before the drop, or
 * its welcome listed the coupon), and the last coupon_left everyone saw is
 * Q - ok.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scen_coupon.h"

#define MAX_CONNECTING 500
#define UNAVAIL_MS 100
#define RATE_MS 500
#define MINE_WAIT_MS 10000 /* for the my_coupons answers: a server that sends none fails the check */
#define SETTLE_MS 1500     /* a tick or two for the last coupon_left and coupon_gone */

const char *const lt_coupon_st_names[CS__N] = {"ok",           "gone",    "limit",       "closed",
                                               "req_reused",   "rate_limited", "invalid", "unavailable",
                                               "unknown",      "other"};

static int status_of(lc_str_t s) {
    for (int i = 0; i < CS__N - 1; i++)
        if (lc_str_eq(s, lt_coupon_st_names[i])) return i;
    return CS_OTHER;
}

static const lt_conn_ops_t claimer_ops;

static void on_settled(uv_timer_t *t) { lt_finish(((coupon_t *)t->data)->run); }

static void settle(coupon_t *cp) {
    if (cp->settling) return;
    cp->settling = 1;
    uv_timer_start(&cp->phase, on_settled, SETTLE_MS, 0);
}

static void on_mine_timeout(uv_timer_t *t) {
    coupon_t *cp = t->data;
    fprintf(stderr, "coupon: %d of %d my_coupons answers after %d s\n", cp->mine_got, cp->mine_wanted,
            MINE_WAIT_MS / 1000);
    settle(cp);
}

/* Every claim is decided: each claimer online asks what it holds. */
static void ask_holdings(coupon_t *cp) {
    if (cp->holdings_asked) return;
    cp->holdings_asked = 1;
    cp->all_done_ms = lt_now_ms(cp->run);
    for (int i = 0; i < cp->n; i++) {
        claimer_t *c = &cp->c[i];
        if (!c->c || !c->online) continue;
        lc_msg_t m;
        lc_msg_init(&m, LC_MSG_COUPONS);
        if (lt_conn_send(c->c, &m) == 0) {
            c->asked_mine = 1;
            cp->mine_wanted++;
        }
    }
    if (!cp->mine_wanted) settle(cp);
    else uv_timer_start(&cp->phase, on_mine_timeout, MINE_WAIT_MS, 0);
}

static void claimer_done(coupon_t *cp, claimer_t *c) {
    if (c->done) return;
    c->done = 1;
    if (++cp->done + cp->lost >= cp->n) ask_holdings(cp);
}

/* Sends the claimer's claim: a new req (fresh) or the current one again. */
static void send_claim(coupon_t *cp, claimer_t *c, int fresh) {
    if (fresh) c->seq++;
    c->replay = !fresh;
    c->inflight = 1;
    if (!c->c || !c->online) return; /* sent when it is back */
    char req[24];
    snprintf(req, sizeof(req), "c%u", c->seq);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_COUPON_CLAIM);
    lc_msg_set(&m, coupon, lc_cstr(cp->id));
    lc_msg_set(&m, req, lc_cstr(req));
    if (!fresh) lc_msg_set(&m, retry, 1); /* a re-send: decided by Redis (PROTOCOL.md "Sold out at the shard") */
    if (lt_conn_send(c->c, &m) != 0) return;
    c->sent_us = lt_now_us();
    cp->claims_sent++;
    if (c->will_drop) { /* --retry: the answer goes down with this connection */
        c->will_drop = 0;
        c->dropped = c->c;
        c->c = NULL;
        c->online = 0;
        cp->planned_drops++;
        lt_conn_close(c->dropped);
    }
}

static void on_resend(uv_timer_t *t) {
    coupon_t *cp = t->data;
    uint64_t now = lt_now_ms(cp->run);
    for (int i = 0; i < cp->n && cp->resends_due > 0; i++) {
        claimer_t *c = &cp->c[i];
        if (!c->resend_at_ms || c->resend_at_ms > now) continue;
        c->resend_at_ms = 0;
        cp->resends_due--;
        cp->resent++;
        send_claim(cp, c, 0);
    }
    if (cp->resends_due == 0) uv_timer_stop(t);
}

static void resend_later(coupon_t *cp, claimer_t *c, int ms) {
    c->resend_at_ms = lt_now_ms(cp->run) + (uint64_t)ms;
    if (cp->resends_due++ == 0) uv_timer_start(&cp->retry, on_resend, 50, 50);
}

/* The `left` of an ok answer: each value from quota-1 down to 0 once.
 * Only a claim's first answer counts: a replay (the same req again) repeats
 * the decision, and coupon.lua answers it with the coupons left now, which
 * PROTOCOL.md does not pin down. */
static void note_left(coupon_t *cp, const claimer_t *c, const lc_msg_t *m) {
    if (!lc_msg_has(m, left)) return;
    if (c->replay) {
        cp->replayed_ok++;
        return;
    }
    if (m->left < 0 || m->left >= cp->run->quota) {
        cp->left_bad++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (m->left & 7));
    if (cp->left_seen[m->left >> 3] & bit) cp->left_dups++;
    cp->left_seen[m->left >> 3] |= bit;
}

static void on_claim(coupon_t *cp, claimer_t *c, const lc_msg_t *m) {
    lt_run_t *run = cp->run;
    char want[24];
    snprintf(want, sizeof(want), "c%u", c->seq);
    if (!c->inflight || !lc_str_eq(m->req, want)) { /* not the claim it waits for */
        cp->stray++;
        return;
    }
    uint64_t lat = lt_now_us() - c->sent_us;
    lt_hist_record(&run->lat, lat);
    lt_hist_record(&run->lat_sec, lat);
    run->msgs++;
    cp->last_answer_ms = lt_now_ms(run);
    int st = status_of(m->status);
    cp->st[st]++;
    c->inflight = 0;
    switch (st) {
    case CS_UNKNOWN: send_claim(cp, c, 0); return; /* it may have happened: the same req tells */
    case CS_UNAVAIL: resend_later(cp, c, UNAVAIL_MS); return;
    case CS_RATE: resend_later(cp, c, RATE_MS); return;
    case CS_OK:
        lt_hist_record(&cp->ok_h, lat);
        c->held++;
        note_left(cp, c, m);
        if (c->held < run->per_user || (c->held == run->per_user && !c->probed)) {
            c->probed = c->held == run->per_user;
            send_claim(cp, c, 1);
            return;
        }
        break;
    case CS_LIMIT: c->early_limit += c->held < run->per_user; break;
    default: break;
    }
    claimer_done(cp, c);
}

static void start_claiming(coupon_t *cp, claimer_t *c) {
    if (c->started) return;
    c->started = 1;
    if (cp->drop_us) lt_hist_record(&cp->seen_h, lt_now_us() - cp->drop_us);
    send_claim(cp, c, 1);
}

/* A `coupon` for ours, in the room or in a welcome's list. */
static void on_coupon(coupon_t *cp, claimer_t *c, const lc_msg_t *m) {
    if (!lc_str_eq(m->coupon, cp->id)) return;
    c->saw_coupon = 1;
    if (lc_msg_has(m, ends)) cp->ends = m->ends;
    if (lc_msg_has(m, quota)) cp->quota_seen = (long)m->quota;
    if (lc_msg_has(m, per_user)) cp->per_user_seen = (long)m->per_user;
    start_claiming(cp, c);
}

static void maybe_drop(coupon_t *cp);

static void on_welcome(coupon_t *cp, claimer_t *c, const lc_msg_t *m) {
    c->online = 1;
    c->gone_here = 0;
    if (c->conns > 1) cp->rejoins++;
    if (!c->welcomed) {
        c->welcomed = 1;
        cp->connecting--;
        cp->welcomed++;
        lt_hist_record(&cp->welcome_h, lt_now_us() - c->open_us);
    }
    c->listed = 0;
    for (size_t i = 0; i < m->coupons.n; i++) {
        c->listed |= lc_str_eq(m->coupons.items[i].coupon, cp->id);
        on_coupon(cp, c, &m->coupons.items[i]);
    }
    cp->rejoins_listed += c->conns > 1 && c->listed;
    if (c->inflight && !c->resend_at_ms) send_claim(cp, c, 0); /* back after a drop: the same req */
    maybe_drop(cp);
}

static void claimer_msg(lt_conn_t *conn, const lc_msg_t *m, size_t bytes) {
    claimer_t *c = lt_conn_user(conn);
    coupon_t *cp = c->cp;
    if (conn != c->c) return; /* the connection it let go */
    switch (m->type) {
    case LC_MSG_WELCOME: on_welcome(cp, c, m); break;
    case LC_MSG_COUPON: on_coupon(cp, c, m); break;
    case LC_MSG_CLAIM: on_claim(cp, c, m); break;
    case LC_MSG_COUPON_LEFT:
        if (lc_str_eq(m->coupon, cp->id)) {
            c->last_left = (long)m->left;
            c->have_left = 1;
        }
        break;
    case LC_MSG_COUPON_GONE:
        if (!lc_str_eq(m->coupon, cp->id)) break;
        cp->gone_msgs++;
        if (++c->gone_here > c->gone_max) c->gone_max = c->gone_here;
        break;
    case LC_MSG_MY_COUPONS:
        if (c->got_mine) break;
        c->got_mine = 1;
        c->mine = 0;
        for (size_t i = 0; i < m->coupons.n; i++)
            if (lc_str_eq(m->coupons.items[i].coupon, cp->id)) c->mine = (long)m->coupons.items[i].claimed;
        if (++cp->mine_got >= cp->mine_wanted && cp->holdings_asked) settle(cp);
        break;
    case LC_MSG_ERROR: lt_count_error(cp->run, m); break;
    default: break;
    }
}

/* Opens claimer c's next connection, to the next shard. Returns 0 or -1. */
static int claimer_connect(coupon_t *cp, claimer_t *c) {
    lt_run_t *run = cp->run;
    unsigned i = (unsigned)(c - cp->c) + (unsigned)c->conns; /* each connection on the next shard */
    c->open_us = lt_now_us();
    c->online = 0;
    c->c = lt_conn_open(run->cl, lt_pick_target(run, i), run->room, lt_pick_fmt(run, (unsigned)(c - cp->c)),
                        lt_pick_src(run, i), &claimer_ops, c);
    c->conns++;
    return c->c ? 0 : -1;
}

static void claimer_open(lt_conn_t *conn) {
    claimer_t *c = lt_conn_user(conn);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr(c->user));
    lt_conn_send(conn, &m);
}

/* The claimer has no connection any more and gets none: its claims end
 * here, decided or not. */
static void claimer_lost(coupon_t *cp, claimer_t *c) {
    if (!c->welcomed) cp->connecting--;
    if (c->done) return;
    c->done = 1;
    cp->lost++;
    if (!cp->drop_sent) maybe_drop(cp);
    else if (cp->done + cp->lost >= cp->n) ask_holdings(cp);
}

static void claimer_close(lt_conn_t *conn, int code, const char *err) {
    claimer_t *c = lt_conn_user(conn);
    coupon_t *cp = c->cp;
    lt_run_t *run = cp->run;
    if (code >= 0 && code < 5000) run->closes[code]++;
    if (run->stopping) return;
    if (conn == c->dropped) { /* --retry: join again, through the next shard */
        c->dropped = NULL;
        cp->reconnects++;
        if (claimer_connect(cp, c) != 0) claimer_lost(cp, c);
        return;
    }
    c->c = NULL;
    c->online = 0;
    if (err) fprintf(stderr, "claimer %s: %s\n", c->user, err);
    if (c->asked_mine && !c->got_mine && ++cp->mine_got >= cp->mine_wanted) settle(cp);
    claimer_lost(cp, c);
}

static const lt_conn_ops_t claimer_ops = {claimer_open, claimer_msg, NULL, claimer_close, NULL};

/* The drop goes out once every claimer is in and the streamer welcomed. */
static void maybe_drop(coupon_t *cp) {
    lt_run_t *run = cp->run;
    if (cp->drop_sent || !cp->streamer_ready || cp->welcomed + cp->lost < cp->n) return;
    cp->drop_sent = 1;
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_COUPON_DROP);
    lc_msg_set(&m, coupon, lc_cstr(cp->id));
    lc_msg_set(&m, title, lc_cstr("load test"));
    lc_msg_set(&m, off, 100);
    lc_msg_set(&m, quota, run->quota);
    lc_msg_set(&m, per_user, run->per_user);
    lc_msg_set(&m, secs, run->window);
    if (!cp->streamer || lt_conn_send(cp->streamer, &m) != 0) {
        fprintf(stderr, "streamer: cannot send coupon_drop\n");
        cp->drop_error = 1;
        lt_finish(run);
        return;
    }
    cp->drop_ms = lt_now_ms(run);
    cp->drop_us = lt_now_us();
    lt_server_baseline(run);
    fprintf(stderr, "%d claimers in the room: dropping coupon %s (quota %ld, per user %ld, window %d s)\n",
            cp->welcomed, cp->id, run->quota, run->per_user, run->window);
}

static void streamer_open(lt_conn_t *c) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr("load-streamer"));
    lc_msg_set(&m, role, lc_cstr("streamer"));
    lt_conn_send(c, &m);
}

static void streamer_msg(lt_conn_t *c, const lc_msg_t *m, size_t bytes) {
    coupon_t *cp = lt_conn_user(c);
    if (m->type == LC_MSG_WELCOME && !cp->streamer_ready) {
        cp->streamer_ready = 1;
        maybe_drop(cp);
    } else if (m->type == LC_MSG_ERROR) {
        fprintf(stderr, "streamer got error %.*s: %.*s\n", (int)m->code.n, m->code.p, (int)m->message.n,
                m->message.p);
        cp->drop_error = 1;
        lt_finish(cp->run);
    }
}

static void streamer_close(lt_conn_t *c, int code, const char *err) {
    coupon_t *cp = lt_conn_user(c);
    cp->streamer = NULL;
    if (!cp->run->stopping && !cp->drop_sent) {
        fprintf(stderr, "streamer connection failed: %s (%d)\n", err ? err : "closed", code);
        cp->drop_error = 1;
        lt_finish(cp->run);
    }
}

static const lt_conn_ops_t streamer_ops = {streamer_open, streamer_msg, NULL, streamer_close, NULL};

static void on_opener(uv_timer_t *t) {
    coupon_t *cp = t->data;
    lt_run_t *run = cp->run;
    int budget = run->ramp > 0 ? (int)(run->ramp / 100.0 + 1) : MAX_CONNECTING;
    while (cp->next < (unsigned)cp->n && budget-- > 0 && cp->connecting < MAX_CONNECTING) {
        claimer_t *c = &cp->c[cp->next++];
        cp->connecting++;
        if (claimer_connect(cp, c) != 0) claimer_lost(cp, c);
    }
    if (cp->next >= (unsigned)cp->n) uv_timer_stop(t);
}

static int coupon_start(lt_run_t *run) {
    if (run->rooms > 1) return fprintf(stderr, "coupon: one room (--rooms 1)\n"), -1;
    coupon_t *cp = calloc(1, sizeof(*cp));
    if (!cp) return -1;
    run->sc_state = cp;
    cp->run = run;
    cp->n = run->conns;
    cp->c = calloc((size_t)cp->n, sizeof(*cp->c));
    cp->left_seen = calloc((size_t)run->quota / 8 + 1, 1);
    if (!cp->c || !cp->left_seen) return -1;
    snprintf(cp->id, sizeof(cp->id), "lt-%d-%llu", (int)getpid(), (unsigned long long)(lt_now_us() / 1000 % 1000000));
    for (int i = 0; i < cp->n; i++) {
        claimer_t *c = &cp->c[i];
        c->cp = cp;
        c->mine = -1;
        c->will_drop = run->retry && i % 10 == 5;
        snprintf(c->user, sizeof(c->user), "claimer-%d-%d", (int)getpid(), i);
    }
    lt_hist_init(&cp->seen_h);
    lt_hist_init(&cp->welcome_h);
    lt_hist_init(&cp->ok_h);
    cp->streamer = lt_conn_open(run->cl, lt_pick_target(run, 0), run->room, LC_FMT_JSON, NULL, &streamer_ops, cp);
    if (!cp->streamer) return fprintf(stderr, "cannot connect the streamer\n"), -1;
    uv_timer_init(run->loop, &cp->opener);
    uv_timer_init(run->loop, &cp->phase);
    uv_timer_init(run->loop, &cp->retry);
    cp->opener.data = cp->phase.data = cp->retry.data = cp;
    uv_timer_start(&cp->opener, on_opener, 0, 10);
    return 0;
}

static void coupon_progress(lt_run_t *run, char *line, size_t cap) {
    coupon_t *cp = run->sc_state;
    snprintf(line, cap, " welcomed=%d claims=%llu ok=%llu gone=%llu limit=%llu retried=%llu done=%d", cp->welcomed,
             (unsigned long long)cp->claims_sent, (unsigned long long)cp->st[CS_OK],
             (unsigned long long)cp->st[CS_GONE], (unsigned long long)cp->st[CS_LIMIT],
             (unsigned long long)(cp->st[CS_UNKNOWN] + cp->st[CS_UNAVAIL] + cp->st[CS_RATE]), cp->done);
}

static int coupon_finish(lt_run_t *run, json_t *report) {
    coupon_t *cp = run->sc_state;
    uv_timer_t *timers[] = {&cp->opener, &cp->phase, &cp->retry};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], NULL);
    }
    for (int i = 0; i < cp->n; i++)
        if (cp->c[i].c) lt_conn_close(cp->c[i].c);
    if (cp->streamer) lt_conn_close(cp->streamer);
    lt_coupon_result(cp, report);
    return lt_coupon_checks(cp, report);
}

static void coupon_cleanup(lt_run_t *run) {
    coupon_t *cp = run->sc_state;
    free(cp->c);
    free(cp->left_seen);
    free(cp);
    run->sc_state = NULL;
}

const lt_scenario_t lt_scenario_coupon = {"coupon",
                                          "N claimers race a coupon drop (--conns N --quota Q --per-user K;\n"
                                          "           --retry: some reconnect mid-race)",
                                          coupon_start, coupon_progress, coupon_finish, coupon_cleanup, NULL};
