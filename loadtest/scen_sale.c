/*
 * Scenario "sale": B buyers race a flash sale.
 *
 * All buyers join one room (spread over the --url shards), then a streamer
 * opens a sale and every buyer starts buying the moment its `sale` message
 * arrives, as a real viewer's app would. With --rooms R the buyers are dealt
 * over R rooms (PREFIX-0 .. PREFIX-R-1, as in the watch scenario), each room
 * has its own streamer and its own sale of --stock units, all opened at the
 * same moment; totals are over every room, the checks about a sale are made
 * in each room (scen_sale_report.c).
 *
 * --inflight 0 (race): each buyer sends one buy and at once a retry with
 *   the same req. Checks: ok orders = min(stock, buyers x limit), every retry
 *   repeats its first answer, no user over the limit, every buyer's last
 *   stock message is 0 followed by exactly one sold_out.
 * --inflight K (throughput): each buyer keeps K buys in flight (new req
 *   each) for --duration seconds; reports buys/s and buy latency. Give the
 *   server a --buy-rate/--buy-burst that allows it, and a large --stock.
 *   With --taps N each buyer sends N buys instead (loadtest/bench-taps: a
 *   million taps for a small stock); the run ends when every one is
 *   answered, and the checks add every_tap_answered and sold_exactly_stock.
 * --pay-s S (checkout): the sale sells by reservation; a successful buy is
 *   `reserved`, the shop pays --pay-ratio of the reservations over HTTP and
 *   leaves the rest to expire, and the run waits until every reservation has
 *   ended (scen_sale_pay.c). The race's checks then count reservations, and
 *   the stock every buyer sees last is stock - paid units: the expired units
 *   came back, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scen_sale.h"

#define MAX_CONNECTING 500

const char *const lt_sale_st_names[ST__N] = {"ok",          "sold_out", "limit",    "closed",
                                             "invalid",     "rate_limited", "unavailable", "unknown",
                                             "reserved",    "other"};

static int status_of(lc_str_t s) {
    for (int i = 0; i < ST__N - 1; i++)
        if (lc_str_eq(s, lt_sale_st_names[i])) return i;
    return ST_OTHER;
}

static void on_settled(uv_timer_t *t) {
    sale_t *s = t->data;
    if (s->pay)
        lt_pay_verify(s); /* it finishes the run */
    else
        lt_finish(s->run);
}

/* Every answer is in: once the checkout (if any) has resolved, give the
 * room a moment for the final stock and sold_out broadcasts (a tick or
 * two), then finish. */
void lt_sale_settle(sale_t *s) {
    if (s->settling) return;
    if (!s->buy_stop_ms) s->buy_stop_ms = lt_now_ms(s->run);
    s->buying_over = 1;
    if (s->pay && !lt_pay_resolved(s)) {
        lt_pay_wait(s);
        return;
    }
    s->settling = 1;
    uv_timer_start(&s->phase, on_settled, 1500, 0);
}

static void buyer_done(sale_t *s) {
    if (++s->done_buyers >= s->n - s->gone) lt_sale_settle(s);
}

/* retry: a re-send of seq's req, marked so (PROTOCOL.md "Sold out at the
 * shard": the shard leaves it to Redis, which answers its first decision). */
static void send_buy(sale_t *s, buyer_t *b, uint64_t seq, int retry) {
    char req[24];
    snprintf(req, sizeof(req), "r%llu", (unsigned long long)seq);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_BUY);
    lc_msg_set(&m, sku, lc_cstr(s->sku));
    lc_msg_set(&m, qty, s->run->qty);
    lc_msg_set(&m, req, lc_cstr(req));
    if (retry) lc_msg_set(&m, retry, 1);
    if (lt_conn_send(b->c, &m) == 0) {
        b->sent_us[seq % (uint64_t)s->slots] = lt_now_us();
        b->outstanding++;
        s->buys_sent++;
    }
}

static void start_buying(sale_t *s, buyer_t *b) {
    if (b->buying || s->stop_sending) return;
    b->buying = 1;
    if (!s->buy_start_ms) s->buy_start_ms = lt_now_ms(s->run);
    if (s->run->inflight == 0) {
        send_buy(s, b, 1, 0);
        send_buy(s, b, 1, 1); /* the retry of a nervous tap: the same req */
        return;
    }
    for (int i = 0; i < s->run->inflight && (!s->run->taps || b->seq < (uint64_t)s->run->taps); i++)
        send_buy(s, b, ++b->seq, 0);
}

/* Counts an answer in the totals and in the buyer's room. */
static void count_status(sale_t *s, const buyer_t *b, int st) {
    s->st[st]++;
    s->rooms[b->room].st[st]++;
}

static void on_order(sale_t *s, buyer_t *b, const lc_msg_t *m) {
    lt_run_t *run = s->run;
    uint64_t seq = m->req.n > 1 ? strtoull(m->req.p + 1, NULL, 10) : 0;
    uint64_t lat = lt_now_us() - b->sent_us[seq % (uint64_t)s->slots];
    lt_hist_record(&run->lat, lat);
    lt_hist_record(&run->lat_sec, lat);
    run->msgs++;
    b->outstanding--;
    s->last_reply_ms = lt_now_ms(run);
    int st = status_of(m->status);
    if (st == ST_UNKNOWN) {
        /* the buy reached Redis and its answer was lost: it may have happened. The same req
         * again is answered with the truth (PROTOCOL.md): ask, and count what we asked. */
        count_status(s, b, ST_UNKNOWN);
        send_buy(s, b, seq, 1);
        return;
    }
    char order[42];
    snprintf(order, sizeof(order), "%.*s", (int)m->order.n, m->order.p ? m->order.p : "");
    if (run->inflight == 0) {
        if (b->replies++ == 0) {
            b->first_status = st;
            count_status(s, b, st);
            if (st == ST_OK || st == ST_RESERVED) b->units += m->qty;
            if (st == ST_RESERVED && s->pay) lt_pay_reserved(s, b, m);
            snprintf(b->first_order, sizeof(b->first_order), "%s", order);
        } else {
            if (st != b->first_status || strcmp(order, b->first_order) != 0) b->mismatches++;
            buyer_done(s);
        }
        return;
    }
    count_status(s, b, st);
    if (st == ST_OK || st == ST_RESERVED) b->units += m->qty;
    if (st == ST_RESERVED && s->pay) lt_pay_reserved(s, b, m);
    if (!s->stop_sending && (!run->taps || b->seq < (uint64_t)run->taps))
        send_buy(s, b, ++b->seq, 0);
    else if (b->outstanding == 0)
        buyer_done(s);
}

/* Opens room r's sale. Returns 0, or -1 when it cannot be sent. */
static int open_room_sale(sale_t *s, sroom_t *r) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_SALE_OPEN);
    lc_msg_set(&m, sku, lc_cstr(s->sku));
    lc_msg_set(&m, title, lc_cstr("load test"));
    lc_msg_set(&m, price, 100);
    lc_msg_set(&m, stock, s->run->stock);
    lc_msg_set(&m, limit, s->run->limit);
    if (s->run->pay_s) lc_msg_set(&m, pay_s, s->run->pay_s);
    if (!r->streamer || lt_conn_send(r->streamer, &m) != 0) {
        fprintf(stderr, "streamer%s: cannot send sale_open\n", r->label);
        return -1;
    }
    r->opened = 1;
    s->rooms_opened++;
    return 0;
}

/* Every room's sale opens at the same moment, once every buyer is in and
 * every streamer is welcomed: the race starts for all rooms at once, with no
 * handshakes left to compete with the buys. */
static void maybe_open_sale(sale_t *s) {
    if (s->open_sent || s->streamers_ready < s->nrooms || s->welcomed + s->gone < s->n) return;
    s->open_sent = 1;
    for (int i = 0; i < s->nrooms; i++) {
        if (open_room_sale(s, &s->rooms[i]) != 0) {
            s->open_error = 1;
            lt_finish(s->run);
            return;
        }
    }
    if (s->nrooms == 1)
        fprintf(stderr, "%d buyers in the room: opening sale %s (stock %ld, limit %ld)\n", s->welcomed,
                s->sku, s->run->stock, s->run->limit);
    else
        fprintf(stderr, "%d buyers in %d rooms: opening sale %s in each (stock %ld per room, limit %ld)\n",
                s->welcomed, s->nrooms, s->sku, s->run->stock, s->run->limit);
}

static void buyer_open(lt_conn_t *c) {
    buyer_t *b = lt_conn_user(c);
    b->open_us = lt_now_us();
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr(b->user));
    lt_conn_send(c, &m);
}

static void buyer_msg(lt_conn_t *c, const lc_msg_t *m, size_t bytes) {
    buyer_t *b = lt_conn_user(c);
    sale_t *s = b->s;
    switch (m->type) {
    case LC_MSG_WELCOME:
        if (b->welcomed) break;
        b->welcomed = 1;
        s->connecting--;
        s->welcomed++;
        s->rooms[b->room].welcomed++;
        lt_hist_record(&s->welcome_h, lt_now_us() - b->open_us);
        maybe_open_sale(s);
        break;
    case LC_MSG_SALE:
        if (!lc_str_eq(m->sku, s->sku)) break;
        if (s->pay && (!lc_msg_has(m, pay_s) || m->pay_s != s->run->pay_s)) s->pay->bad_sale_msgs++;
        start_buying(s, b);
        break;
    case LC_MSG_PAID:
    case LC_MSG_EXPIRED:
        if (s->pay) lt_pay_event(s, b, m);
        break;
    case LC_MSG_ORDER:
        on_order(s, b, m);
        break;
    case LC_MSG_STOCK:
        if (lc_str_eq(m->sku, s->sku)) {
            b->last_left = m->left;
            b->have_left = 1;
        }
        break;
    case LC_MSG_SOLD_OUT:
        if (lc_str_eq(m->sku, s->sku)) b->sold_outs++;
        break;
    case LC_MSG_ERROR:
        lt_count_error(s->run, m);
        break;
    default:
        break;
    }
}

static void buyer_close(lt_conn_t *c, int code, const char *err) {
    buyer_t *b = lt_conn_user(c);
    sale_t *s = b->s;
    b->c = NULL;
    b->gone = 1;
    if (code >= 0 && code < 5000) s->run->closes[code]++;
    if (!b->welcomed) s->connecting--;
    s->gone++;
    if (s->run->stopping) return;
    if (err) fprintf(stderr, "buyer %s: %s\n", b->user, err);
    maybe_open_sale(s);
    if (b->buying && !s->settling && s->done_buyers >= s->n - s->gone) lt_sale_settle(s);
}

static const lt_conn_ops_t buyer_ops = {buyer_open, buyer_msg, NULL, buyer_close, NULL};

static void streamer_open(lt_conn_t *c) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr("load-streamer"));
    lc_msg_set(&m, role, lc_cstr("streamer"));
    lt_conn_send(c, &m);
}

static void streamer_msg(lt_conn_t *c, const lc_msg_t *m, size_t bytes) {
    sroom_t *r = lt_conn_user(c);
    sale_t *s = r->s;
    if (m->type == LC_MSG_WELCOME) {
        if (r->ready) return;
        r->ready = 1;
        s->streamers_ready++;
        maybe_open_sale(s);
    } else if (m->type == LC_MSG_ERROR) {
        fprintf(stderr, "streamer%s got error %.*s: %.*s\n", r->label, (int)m->code.n, m->code.p,
                (int)m->message.n, m->message.p);
        r->error = 1;
        s->open_error = 1;
        lt_finish(s->run);
    }
}

static void streamer_close(lt_conn_t *c, int code, const char *err) {
    sroom_t *r = lt_conn_user(c);
    sale_t *s = r->s;
    r->streamer = NULL;
    if (!s->run->stopping && !s->open_sent) {
        fprintf(stderr, "streamer%s connection failed: %s (%d)\n", r->label, err ? err : "closed", code);
        r->error = 1;
        s->open_error = 1;
        lt_finish(s->run);
    }
}

static const lt_conn_ops_t streamer_ops = {streamer_open, streamer_msg, NULL, streamer_close, NULL};

/* Opens buyers: as fast as allowed, at most MAX_CONNECTING handshakes at a
 * time, or --ramp per second. */
static void on_opener(uv_timer_t *t) {
    sale_t *s = t->data;
    lt_run_t *run = s->run;
    int budget = run->ramp > 0 ? (int)(run->ramp / 100.0 + 1) : MAX_CONNECTING;
    while (s->next < (unsigned)s->n && budget-- > 0 && s->connecting < MAX_CONNECTING) {
        unsigned i = s->next++;
        buyer_t *b = &s->b[i];
        b->c = lt_conn_open(run->cl, lt_pick_target(run, i), s->rooms[b->room].name, lt_pick_fmt(run, i),
                            lt_pick_src(run, i), &buyer_ops, b);
        if (!b->c) {
            b->gone = 1;
            s->gone++;
            continue;
        }
        s->connecting++;
    }
    if (s->next >= (unsigned)s->n) uv_timer_stop(t);
    maybe_open_sale(s);
}

static void on_duration(uv_timer_t *t) {
    sale_t *s = t->data;
    if (s->run->inflight == 0) return;
    s->stop_sending = 1;
    s->buy_stop_ms = lt_now_ms(s->run);
    int busy = 0;
    for (int i = 0; i < s->n; i++) busy += s->b[i].outstanding > 0 && !s->b[i].gone;
    s->done_buyers = s->n - s->gone - busy;
    if (!busy) lt_sale_settle(s);
}

/* The rooms, named as the watch scenario names them (--room itself when
 * there is one), each with its streamer. Returns 0 or -1. */
static int rooms_open(sale_t *s) {
    lt_run_t *run = s->run;
    for (int i = 0; i < s->nrooms; i++) {
        sroom_t *r = &s->rooms[i];
        r->s = s;
        if (s->nrooms == 1) {
            snprintf(r->name, sizeof(r->name), "%s", run->room);
        } else {
            snprintf(r->name, sizeof(r->name), "%.50s-%d", run->room, i);
            snprintf(r->label, sizeof(r->label), " in %s", r->name);
        }
    }
    for (int i = 0; i < s->nrooms; i++) {
        sroom_t *r = &s->rooms[i];
        const lt_target_t *t = lt_pick_target(run, (unsigned)i);
        r->streamer = lt_conn_open(run->cl, t, r->name, LC_FMT_JSON, NULL, &streamer_ops, r);
        if (!r->streamer) {
            fprintf(stderr, "cannot connect the streamer%s to %s:%d\n", r->label, t->host, t->port);
            return -1;
        }
    }
    return 0;
}

static int sale_start(lt_run_t *run) {
    if (run->rooms > run->conns) {
        fprintf(stderr, "sale: --rooms %d is more than --conns %d: a room without buyers tests nothing\n",
                run->rooms, run->conns);
        return -1;
    }
    sale_t *s = calloc(1, sizeof(*s));
    if (!s) return -1;
    run->sc_state = s;
    s->run = run;
    s->n = run->conns;
    s->nrooms = run->rooms;
    s->slots = run->inflight > 0 ? run->inflight : 2;
    s->b = calloc((size_t)s->n, sizeof(*s->b));
    s->rooms = calloc((size_t)s->nrooms, sizeof(*s->rooms));
    uint64_t *slots = calloc((size_t)s->n * (size_t)s->slots, sizeof(uint64_t));
    if (!s->b || !s->rooms || !slots) return -1;
    snprintf(s->sku, sizeof(s->sku), "load-%d-%llu", (int)getpid(),
             (unsigned long long)(lt_now_us() / 1000 % 1000000));
    for (int i = 0; i < s->n; i++) {
        s->b[i].s = s;
        s->b[i].room = i % s->nrooms; /* dealt round-robin, as the watch scenario deals viewers */
        s->rooms[s->b[i].room].members++;
        s->b[i].sent_us = slots + (size_t)i * (size_t)s->slots;
        snprintf(s->b[i].user, sizeof(s->b[i].user), "buyer-%d-%d", (int)getpid(), i);
    }
    lt_hist_init(&s->welcome_h);
    if (run->pay_s && lt_pay_start(s) != 0) return -1;
    if (rooms_open(s) != 0) return -1;
    uv_timer_init(run->loop, &s->opener);
    uv_timer_init(run->loop, &s->phase);
    s->opener.data = s->phase.data = s;
    uv_timer_start(&s->opener, on_opener, 0, 10);
    return 0;
}

static void sale_progress(lt_run_t *run, char *line, size_t cap) {
    sale_t *s = run->sc_state;
    int n = snprintf(line, cap, " welcomed=%d buys=%llu ok=%llu sold_out=%llu other=%llu", s->welcomed,
                     (unsigned long long)s->buys_sent, (unsigned long long)s->st[ST_OK],
                     (unsigned long long)s->st[ST_SOLD_OUT],
                     (unsigned long long)(s->st[ST_LIMIT] + s->st[ST_CLOSED] + s->st[ST_INVALID] +
                                          s->st[ST_RATE] + s->st[ST_UNAVAIL] + s->st[ST_OTHER]));
    if (s->pay && n > 0 && (size_t)n < cap)
        snprintf(line + n, cap - (size_t)n, " reserved=%llu paid=%llu expired=%llu",
                 (unsigned long long)s->st[ST_RESERVED], (unsigned long long)s->pay->paid_msgs,
                 (unsigned long long)s->pay->expired_msgs);
    /* the throughput run ends after --duration of buying */
    if (run->inflight > 0 && !run->taps && s->buy_start_ms && !s->stop_sending &&
        lt_now_ms(run) - s->buy_start_ms >= (uint64_t)(run->duration * 1000)) {
        uv_timer_start(&s->phase, on_duration, 0, 0);
    }
}

static int sale_finish(lt_run_t *run, json_t *report) {
    sale_t *s = run->sc_state;
    uv_timer_stop(&s->opener);
    uv_timer_stop(&s->phase);
    uv_close((uv_handle_t *)&s->opener, NULL);
    uv_close((uv_handle_t *)&s->phase, NULL);
    if (s->pay) lt_pay_stop(s);
    for (int i = 0; i < s->n; i++)
        if (s->b[i].c) lt_conn_close(s->b[i].c);
    for (int i = 0; i < s->nrooms; i++)
        if (s->rooms[i].streamer) lt_conn_close(s->rooms[i].streamer);
    lt_sale_result(s, report);
    return lt_sale_checks(s, report);
}

static void sale_cleanup(lt_run_t *run) {
    sale_t *s = run->sc_state;
    if (s->b) free(s->b[0].sent_us); /* one block for every buyer's slots */
    if (s->pay) lt_pay_free(s);
    free(s->b);
    free(s->rooms);
    free(s);
    run->sc_state = NULL;
}

const lt_scenario_t lt_scenario_sale = {"sale",
                                        "B buyers race a flash sale (--conns B --stock S; --rooms R: a sale in each;\n"
                                        "           --pay-s S: by reservation, paid or expired)",
                                        sale_start, sale_progress, sale_finish, sale_cleanup, NULL};
