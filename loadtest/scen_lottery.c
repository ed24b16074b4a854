/*
 * Scenario "lottery" (福袋, PROTOCOL.md "Lucky bag"): a streamer opens a
 * lottery, N viewers spread over the --url/--shards shards enter it, and
 * everyone waits for the draw at its end.
 *
 * Every viewer joins the room first (viewer i on shard i, its twin, if it
 * has one, on shard i + 1); then the streamer sends lottery_open (--winners
 * K, --secs S, --keyword W) and each viewer acts when the `lottery` message
 * reaches it (or, with --spread T, at its turn within T s after that).
 * Plans, by the viewer's index:
 *   - every 20th viewer only watches (with a keyword it comments a text
 *     without it, which must not enter it);
 *   - the others enter once: by commenting the keyword (every other one in
 *     flipped ASCII case) or, without a keyword, with lottery_enter;
 *   - a share F (--twice) of the entrants enters again: on the same path
 *     (a second comment, half of them the same req again; or a second
 *     lottery_enter), by the other path too (a lottery_enter, which must
 *     answer `keyword`; or a comment, which enters nothing), or from a twin
 *     connection of the same user on the next shard, at the same moment.
 * `unknown` is sent again at once, `unavailable` after UNAVAIL_MS and
 * `rate_limited` after RATE_MS; a comment refused with one of those errors
 * is sent again with the same req. Once every entrant was told `entered`, a
 * late joiner comes in (if the draw is still LATE_MARGIN_MS away): its
 * welcome must list the lottery with every entry. When every connection has
 * its lottery_result the room gets SETTLE_MS for stray `won`s; then, with an
 * API key, GET /api/rooms/R/lotteries/ID is fetched and checked.
 *
 * Viewer connections are read undecoded and only what is not a comment is
 * decoded: a keyword crowd's comments reach every connection, and decoding
 * N x N of them would make the tool, not the server, the bottleneck.
 *
 * The plans and the answers are in scen_lottery_play.c, the checks in
 * scen_lottery_report.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scen_lottery.h"

#define MAX_CONNECTING 500
#define SETTLE_MS 1500       /* after the last lottery_result: `won`s still on their way */
#define RESULT_WAIT_MS 10000 /* past `ends`: a draw that has not come by then fails the run */
#define LATE_MARGIN_MS 3000  /* the late joiner comes only this long before the draw */
#define API_TRIES 5

static const lt_conn_ops_t peer_ops;

/* ---- the end: every result in, a moment to settle, the API, the report ---- */

static void on_api(void *user, int status, const char *body, size_t n, uint64_t lat_us);

static void api_get(lottery_t *lt) {
    lt_run_t *run = lt->run;
    const lt_target_t *t = lt_pick_target(run, 1); /* not the streamer's shard, when there are two */
    if (!lt->http) lt->http = lt_http_create(run->loop, t->host, t->port, 1, 5000);
    char path[256];
    snprintf(path, sizeof(path), "/api/rooms/%s/lotteries/%s", run->room, lt->id);
    lt->api_tries++;
    if (!lt->http || lt_http_request(lt->http, "GET", path, run->api_key, NULL, on_api, lt) != 0) {
        fprintf(stderr, "lottery: cannot send GET %s\n", path);
        lt_finish(run);
    }
}

static void on_api_retry(uv_timer_t *t) { api_get(t->data); }

static void on_api(void *user, int status, const char *body, size_t n, uint64_t lat_us) {
    lottery_t *lt = user;
    if (status < 0) return; /* the client went away with the run */
    lt->api_status = status;
    if ((status == 0 || status >= 500) && lt->api_tries < API_TRIES) {
        fprintf(stderr, "lottery: GET answered %d (%.*s), again\n", status, (int)(n > 80 ? 80 : n), body);
        uv_timer_start(&lt->phase, on_api_retry, 300, 0);
        return;
    }
    json_error_t err;
    if (status == 200 && !(lt->api = json_loadb(body, n, JSON_REJECT_DUPLICATES, &err)))
        fprintf(stderr, "lottery: GET answer is not JSON: %s\n", err.text);
    lt_finish(lt->run);
}

static void on_settled(uv_timer_t *t) {
    lottery_t *lt = t->data;
    if (lt->run->api_key && lt->have_result)
        api_get(lt);
    else
        lt_finish(lt->run);
}

static void settle(lottery_t *lt) {
    if (lt->settling) return;
    lt->settling = 1;
    uv_timer_start(&lt->phase, on_settled, SETTLE_MS, 0);
}

static void on_result_timeout(uv_timer_t *t) {
    lottery_t *lt = t->data;
    fprintf(stderr, "lottery: %d of %d connections have the result %d s after the end\n", lt->results_peers, lt->peers,
            RESULT_WAIT_MS / 1000);
    settle(lt);
}

void lt__lottery_all_results(lottery_t *lt) {
    if (lt->open_sent && lt->results_peers + lt->lost >= lt->peers) settle(lt);
}

void lt__lottery_wait_result(lottery_t *lt) {
    uint64_t now_ms = lt_now_us() / 1000;
    uint64_t wait = lt->ends > (int64_t)now_ms ? (uint64_t)lt->ends - now_ms : 0;
    if (!lt->settling) uv_timer_start(&lt->phase, on_result_timeout, wait + RESULT_WAIT_MS, 0);
}

/* ---- connections ---- */

/* Opens peer pe to shard i (round-robin). Returns 0 or -1. */
static int peer_connect(lottery_t *lt, lpeer_t *pe, unsigned i, int fmt) {
    lt_run_t *run = lt->run;
    pe->used = 1;
    pe->shard = (uint8_t)(i % (unsigned)run->ntargets);
    pe->open_us = lt_now_us();
    pe->c = lt_conn_open(run->cl, lt_pick_target(run, i), run->room, fmt, lt_pick_src(run, i), &peer_ops, pe);
    lt->peers++;
    if (!pe->c) return -1;
    lt_conn_set_raw(pe->c, 1); /* decoded in peer_raw, comments skipped */
    return 0;
}

void lt__lottery_late(lottery_t *lt) {
    uint64_t answers = 0;
    for (int i = 0; i < ES__N; i++) answers += lt->st[i];
    if (lt->late_state || lt->entered_users < lt->entrants_planned || answers < lt->enters_sent || !lt->ends) return;
    if ((int64_t)(lt_now_us() / 1000) + LATE_MARGIN_MS > lt->ends) {
        lt->late_state = 2; /* too close to the draw: its welcome could come after it */
        return;
    }
    lt->late_state = 1;
    if (peer_connect(lt, &lt->late, 1, LC_FMT_MSGPACK) != 0) lt->lost++;
}

static const char *peer_name(const lottery_t *lt, const lpeer_t *pe) {
    return pe->v ? pe->v->user : pe == &lt->streamer ? "the streamer" : "the late joiner";
}

static void peer_open(lt_conn_t *conn) {
    lpeer_t *pe = lt_conn_user(conn);
    lottery_t *lt = pe->lt;
    char user[64];
    snprintf(user, sizeof(user), "%s", pe->v ? pe->v->user : pe == &lt->streamer ? "lv-streamer" : "lv-late");
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr(user));
    if (pe == &lt->streamer) lc_msg_set(&m, role, lc_cstr("streamer"));
    lt_conn_send(conn, &m);
}

/* The open goes out once every viewer is in and the streamer welcomed. */
static void maybe_open(lottery_t *lt) {
    lt_run_t *run = lt->run;
    int want = lt->n + lt->planned[PLAN_TWIN];
    if (lt->open_sent || !lt->streamer_ready || lt->next < (unsigned)lt->n || lt->welcomed + lt->gone_early < want)
        return;
    lt->open_sent = 1;
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_LOTTERY_OPEN);
    lc_msg_set(&m, lottery, lc_cstr(lt->id));
    lc_msg_set(&m, prize, lc_cstr(LT_LOTTERY_PRIZE));
    lc_msg_set(&m, winners, run->winners);
    lc_msg_set(&m, secs, run->lottery_secs);
    if (run->keyword[0]) lc_msg_set(&m, keyword, lc_cstr(run->keyword));
    if (!lt->streamer.c || lt_conn_send(lt->streamer.c, &m) != 0) {
        fprintf(stderr, "streamer: cannot send lottery_open\n");
        lt->open_error = 1;
        lt_finish(run);
        return;
    }
    lt->open_ms = lt_now_ms(run);
    lt->open_us = lt_now_us();
    lt_server_baseline(run);
    fprintf(stderr, "%d viewers (%d connections) in the room: opening lottery %s (K %d, %d s, %s)\n", lt->n,
            lt->welcomed, lt->id, run->winners, run->lottery_secs, run->keyword[0] ? "keyword" : "lottery_enter");
}

static void on_welcome(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    if (pe->welcomed) return;
    pe->welcomed = 1;
    if (pe == &lt->streamer) {
        lt->streamer_ready = 1;
        maybe_open(lt);
        return;
    }
    lt_hist_record(&lt->welcome_h, lt_now_us() - pe->open_us);
    if (pe == &lt->late) { /* the lottery, with every entry so far */
        for (size_t i = 0; i < m->lotteries.n; i++)
            if (lc_str_eq(m->lotteries.items[i].lottery, lt->id))
                pe->welcome_entries =
                    lc_msg_has(&m->lotteries.items[i], entry_count) ? m->lotteries.items[i].entry_count : -2;
        return;
    }
    lt->connecting--;
    lt->welcomed++;
    maybe_open(lt);
}

/* JSON and msgpack frames of the codec start with the type: a comment is
 * recognised by its first bytes and not decoded. */
static int is_comment(const uint8_t *p, size_t n, int fmt) {
    if (fmt == LC_FMT_JSON) return n > 17 && memcmp(p, "{\"type\":\"comment\"", 17) == 0;
    size_t h = n && (p[0] & 0xf0) == 0x80 ? 1 : n && p[0] == 0xde ? 3 : n && p[0] == 0xdf ? 5 : 0;
    return h && n > h + 13 &&
           memcmp(p + h,
                  "\xa4type\xa7"
                  "comment",
                  13) == 0;
}

static void peer_raw(lt_conn_t *conn, const uint8_t *p, size_t n) {
    lpeer_t *pe = lt_conn_user(conn);
    lottery_t *lt = pe->lt;
    int fmt = lt_conn_fmt(conn);
    if (is_comment(p, n, fmt)) {
        lt->comments_in++;
        return;
    }
    lc_msg_t m;
    lc_proto_err_t err;
    lc_msg_init(&m, LC_MSG_NONE);
    if (lc_msg_decode(&m, (lc_fmt_t)fmt, LC_DIR_S2C, p, n, &err) != 0) {
        if (lt->decode_errors++ < 5) fprintf(stderr, "lottery: cannot decode a frame: %s\n", err.message);
        return;
    }
    if (m.type == LC_MSG_WELCOME) {
        on_welcome(lt, pe, &m);
    } else if (pe == &lt->streamer && m.type == LC_MSG_ERROR) {
        fprintf(stderr, "streamer got error %.*s: %.*s\n", (int)m.code.n, m.code.p, (int)m.message.n, m.message.p);
        lt_count_error(lt->run, &m);
        lt->open_error = 1;
        lt_finish(lt->run);
    } else {
        lt__lottery_msg(lt, pe, &m);
    }
    lc_msg_clear(&m);
}

static void peer_close(lt_conn_t *conn, int code, const char *err) {
    lpeer_t *pe = lt_conn_user(conn);
    lottery_t *lt = pe->lt;
    lt_run_t *run = lt->run;
    if (code >= 0 && code < 5000) run->closes[code]++;
    pe->c = NULL;
    if (run->stopping) return;
    pe->lost = 1;
    fprintf(stderr, "lottery: %s lost its connection: %s (%d)\n", peer_name(lt, pe), err ? err : "closed", code);
    if (pe->v && !pe->welcomed) {
        lt->connecting--;
        lt->gone_early++;
    }
    if (!pe->results) lt->lost++;
    if (pe == &lt->streamer && !lt->open_sent) {
        lt->open_error = 1;
        lt_finish(run);
    } else if (!lt->open_sent) {
        maybe_open(lt);
    } else {
        lt__lottery_all_results(lt);
    }
}

static const lt_conn_ops_t peer_ops = {peer_open, NULL, peer_raw, peer_close, NULL};

/* A viewer's connections: the first on shard i, a twin on shard i + 1. */
static void viewer_connect(lottery_t *lt, lviewer_t *v) {
    for (int k = 0; k < (v->plan == PLAN_TWIN ? 2 : 1); k++) {
        lt->connecting++;
        unsigned i = (unsigned)(v->idx + k);
        if (peer_connect(lt, &v->p[k], i, lt_pick_fmt(lt->run, i)) != 0) {
            lt->connecting--;
            lt->gone_early++;
            lt->lost++;
        }
    }
}

static void on_opener(uv_timer_t *t) {
    lottery_t *lt = t->data;
    lt_run_t *run = lt->run;
    int budget = run->ramp > 0 ? (int)(run->ramp / 100.0 + 1) : MAX_CONNECTING;
    while (lt->next < (unsigned)lt->n && budget-- > 0 && lt->connecting < MAX_CONNECTING)
        viewer_connect(lt, &lt->v[lt->next++]);
    if (lt->next >= (unsigned)lt->n) {
        uv_timer_stop(t);
        maybe_open(lt); /* when every connection failed at once */
    }
}

/* ---- the run ---- */

/* Every 20th viewer watches; a share --twice of the others enters again,
 * in turn on the same path, on both paths, or from a twin connection. */
static void plan_viewers(lottery_t *lt) {
    int entrant = 0, twice = 0;
    for (int i = 0; i < lt->n; i++) {
        lviewer_t *v = &lt->v[i];
        v->idx = i;
        snprintf(v->user, sizeof(v->user), "lv-%d-%d", (int)getpid(), i);
        for (int k = 0; k < 2; k++) {
            v->p[k].lt = lt;
            v->p[k].v = v;
            v->p[k].welcome_entries = -1;
        }
        if (i % 20 == 19) {
            v->plan = PLAN_WATCH;
        } else {
            int e = entrant++;
            /* floor(E x F) of the E entrants, evenly spread (the epsilon: 0.3 x 10 is 2.999...) */
            int again = (long)((e + 1) * lt->run->twice + 1e-9) > (long)(e * lt->run->twice + 1e-9);
            v->plan = again ? (uint8_t)(PLAN_SAME + twice++ % 3) : PLAN_ONCE;
        }
        lt->planned[v->plan]++;
    }
    lt->entrants_planned = lt->n - lt->planned[PLAN_WATCH];
}

/* A watcher's comment: one character the keyword does not hold, in either
 * case, repeated: it cannot contain the keyword. */
static void pick_nowatch(lottery_t *lt) {
    const char *kw = lt->run->keyword;
    for (int c = '!'; c <= '~'; c++) {
        int lower = c >= 'A' && c <= 'Z' ? c + 32 : c, upper = c >= 'a' && c <= 'z' ? c - 32 : c;
        if (!strchr(kw, lower) && !strchr(kw, upper)) {
            memset(lt->nowatch, c, 5);
            return;
        }
    }
}

static int lottery_start(lt_run_t *run) {
    if (run->rooms > 1) return fprintf(stderr, "lottery: one room (--rooms 1)\n"), -1;
    lottery_t *lt = calloc(1, sizeof(*lt));
    if (!lt) return -1;
    run->sc_state = lt;
    lt->run = run;
    lt->n = run->conns;
    if (!(lt->v = calloc((size_t)lt->n, sizeof(*lt->v)))) return -1;
    snprintf(lt->id, sizeof(lt->id), "lt-%d-%llu", (int)getpid(), (unsigned long long)(lt_now_us() / 1000 % 1000000));
    pick_nowatch(lt);
    plan_viewers(lt);
    lt->streamer.lt = lt->late.lt = lt;
    lt->late.welcome_entries = -1;
    lt_hist_init(&lt->open_h);
    lt_hist_init(&lt->entered_h);
    lt_hist_init(&lt->answer_h);
    lt_hist_init(&lt->draw_h);
    lt_hist_init(&lt->welcome_h);
    uv_timer_t *timers[] = {&lt->opener, &lt->phase, &lt->retry, &lt->spread};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(run->loop, timers[i]);
        timers[i]->data = lt;
    }
    if (peer_connect(lt, &lt->streamer, 0, LC_FMT_JSON) != 0)
        return fprintf(stderr, "cannot connect the streamer\n"), -1;
    uv_timer_start(&lt->opener, on_opener, 0, 10);
    return 0;
}

static void lottery_progress(lt_run_t *run, char *line, size_t cap) {
    lottery_t *lt = run->sc_state;
    snprintf(line, cap, " welcomed=%d entered=%d/%d enters=%llu comments=%llu results=%d/%d", lt->welcomed,
             lt->entered_users, lt->entrants_planned, (unsigned long long)lt->enters_sent,
             (unsigned long long)lt->comments_sent, lt->results_peers, lt->peers);
}

static int lottery_finish(lt_run_t *run, json_t *report) {
    lottery_t *lt = run->sc_state;
    uv_timer_t *timers[] = {&lt->opener, &lt->phase, &lt->retry, &lt->spread};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], NULL);
    }
    for (int i = 0; i < lt->n; i++)
        for (int k = 0; k < 2; k++)
            if (lt->v[i].p[k].c) lt_conn_close(lt->v[i].p[k].c);
    if (lt->streamer.c) lt_conn_close(lt->streamer.c);
    if (lt->late.c) lt_conn_close(lt->late.c);
    lt_http_destroy(lt->http);
    lt->http = NULL;
    lt_lottery_result(lt, report);
    return lt_lottery_checks(lt, report);
}

static void lottery_cleanup(lt_run_t *run) {
    lottery_t *lt = run->sc_state;
    for (size_t i = 0; i < lt->nwinners; i++) free(lt->winners[i]);
    free(lt->winners);
    json_decref(lt->api);
    free(lt->v);
    free(lt);
    run->sc_state = NULL;
}

const lt_scenario_t lt_scenario_lottery = {"lottery",
                                           "a streamer opens a lottery, N viewers enter (--conns N --winners K\n"
                                           "           --secs S [--keyword W] [--twice F]); the draw is verified",
                                           lottery_start,
                                           lottery_progress,
                                           lottery_finish,
                                           lottery_cleanup,
                                           NULL};
