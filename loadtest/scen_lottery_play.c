/*
 * The lottery scenario's play (scen_lottery.c has the connections and the
 * end): the viewers' entries by their plans, the answers and notices they
 * get, and the resends of what was refused for a while.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scen_lottery.h"

#define UNAVAIL_MS 100
#define RATE_MS 500

const char *const lt_lottery_st_names[ES__N] = {"ok",     "already",      "closed",      "keyword", "muted",
                                                "banned", "rate_limited", "unavailable", "unknown", "other"};
const char *const lt_lottery_plan_names[PLAN__N] = {"watch", "once", "same_path", "both_paths", "twin"};

static int status_of(lc_str_t s) {
    for (int i = 0; i < ES__N - 1; i++)
        if (lc_str_eq(s, lt_lottery_st_names[i])) return i;
    return ES_OTHER;
}

/* ASCII letters of the keyword flipped: the server compares them case-insensitively. */
static void flip_case(char *s) {
    for (; *s; s++)
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) *s ^= 0x20;
}

static void send_comment(lottery_t *lt, lpeer_t *pe, const char *text, const char *req) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_COMMENT);
    lc_msg_set(&m, text, lc_cstr(text));
    lc_msg_set(&m, req, lc_cstr(req));
    if (pe->c && lt_conn_send(pe->c, &m) == 0) lt->comments_sent++;
}

static void send_enter(lottery_t *lt, lpeer_t *pe) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_LOTTERY_ENTER);
    lc_msg_set(&m, lottery, lc_cstr(lt->id));
    if (pe->c && lt_conn_send(pe->c, &m) == 0) {
        lt->enters_sent++;
        pe->enter_sent_us = lt_now_us();
    }
}

/* The comments of peer pe's plan; sent again, they are the same reqs. */
static void peer_comments(lottery_t *lt, lpeer_t *pe) {
    lviewer_t *v = pe->v;
    const char *kw = lt->run->keyword;
    int first = pe == &v->p[0];
    char text[128], again[8];
    snprintf(again, sizeof(again), "%s", v->idx % 2 ? "e2" : "e1"); /* a second comment, or a retry */
    if (!kw[0]) { /* no keyword: a comment enters nothing (the watchers stay silent: no flood) */
        if (v->plan == PLAN_BOTH) send_comment(lt, pe, "me too", "b1");
        return;
    }
    if (v->plan == PLAN_WATCH) {
        snprintf(text, sizeof(text), "%s", lt->nowatch);
        send_comment(lt, pe, text, "w1");
        return;
    }
    char k[64];
    snprintf(k, sizeof(k), "%s", kw);
    if (v->idx % 2) flip_case(k);
    snprintf(text, sizeof(text), "want %s #%d", k, v->idx);
    if (v->plan != PLAN_TWIN || first) send_comment(lt, pe, text, "e1");
    if (v->plan == PLAN_SAME || (v->plan == PLAN_TWIN && !first)) send_comment(lt, pe, text, again);
}

/* Peer pe's part of its viewer's plan, once. */
static void maybe_act(lottery_t *lt, lpeer_t *pe) {
    lviewer_t *v = pe->v;
    if (!v || pe->acted || !pe->saw_open || !pe->welcomed || !v->due || !pe->c) return;
    pe->acted = 1;
    if (pe == &v->p[0]) v->first_us = lt_now_us();
    peer_comments(lt, pe);
    if (lt->run->keyword[0]) {
        if (v->plan == PLAN_BOTH) send_enter(lt, pe); /* must answer `keyword` */
        return;
    }
    if (v->plan == PLAN_WATCH) return;
    send_enter(lt, pe);
    if (v->plan == PLAN_SAME) send_enter(lt, pe);
}

static void on_resend(uv_timer_t *t) {
    lottery_t *lt = t->data;
    uint64_t now = lt_now_ms(lt->run);
    for (int i = 0; i < lt->n && lt->resends_due > 0; i++) {
        for (int k = 0; k < 2; k++) {
            lpeer_t *pe = &lt->v[i].p[k];
            if (!pe->resend_at_ms || pe->resend_at_ms > now) continue;
            pe->resend_at_ms = 0;
            lt->resends_due--;
            lt->resent++;
            if (pe->comments_due) peer_comments(lt, pe);
            for (; pe->enters_due; pe->enters_due--) send_enter(lt, pe);
            pe->comments_due = 0;
        }
    }
    if (lt->resends_due <= 0) uv_timer_stop(t);
}

static void resend_later(lottery_t *lt, lpeer_t *pe, int ms) {
    if (!pe->resend_at_ms) {
        pe->resend_at_ms = lt_now_ms(lt->run) + (uint64_t)ms;
        if (lt->resends_due++ == 0) uv_timer_start(&lt->retry, on_resend, 50, 50);
    }
}

/* --spread: viewer i's turn is i/n of the way through it. */
static void on_spread(uv_timer_t *t) {
    lottery_t *lt = t->data;
    double ms = lt->run->spread * 1000.0;
    double gone = (double)(lt_now_ms(lt->run) - lt->due_ms);
    int due = ms > 0 && gone < ms ? (int)((double)lt->n * gone / ms) + 1 : lt->n;
    if (due > lt->n) due = lt->n;
    for (; lt->next_due < due; lt->next_due++) {
        lviewer_t *v = &lt->v[lt->next_due];
        v->due = 1;
        maybe_act(lt, &v->p[0]);
        if (v->plan == PLAN_TWIN) maybe_act(lt, &v->p[1]);
    }
    if (due >= lt->n) uv_timer_stop(t);
}

/* ---- the room's messages ---- */

static void on_lottery(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    if (!lc_str_eq(m->lottery, lt->id)) return;
    if (!lt->commit[0]) {
        snprintf(lt->commit, sizeof(lt->commit), "%.*s", (int)m->commit.n, m->commit.p);
        lt->ends = m->ends;
        lt->k_told = m->winners;
        lt->due_ms = lt_now_ms(lt->run);
        uv_timer_start(&lt->spread, on_spread, 0, 10);
        lt__lottery_wait_result(lt);
    } else if (!lc_str_eq(m->commit, lt->commit) || m->ends != lt->ends) {
        lt->commit_differs++;
    }
    if (pe->saw_open) return;
    pe->saw_open = 1;
    if (!pe->v) return;
    lt_hist_record(&lt->open_h, lt_now_us() - lt->open_us);
    maybe_act(lt, pe);
}

static void on_enter(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    lviewer_t *v = pe->v;
    if (!v || !lc_str_eq(m->lottery, lt->id)) {
        lt->stray++;
        return;
    }
    int st = status_of(m->status);
    lt->st[st]++;
    v->st[st]++;
    lt->run->msgs++;
    if (pe->enter_sent_us) lt_hist_record(&lt->answer_h, lt_now_us() - pe->enter_sent_us);
    if (st == ES_OK && pe->entered) lt->entered_before_ok++; /* PROTOCOL.md: `ok`, then `entered` */
    if (st == ES_UNKNOWN) {                                  /* it may have happened: the same again tells */
        v->unknown = 1;
        send_enter(lt, pe);
    } else if (st == ES_UNAVAIL || st == ES_RATE) {
        pe->enters_due++;
        resend_later(lt, pe, st == ES_UNAVAIL ? UNAVAIL_MS : RATE_MS);
    }
    lt__lottery_late(lt);
}

static void on_entered(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    if (!lc_str_eq(m->lottery, lt->id)) return;
    lt->entered_msgs++;
    if (pe->entered++ || !pe->v) return;
    lviewer_t *v = pe->v;
    if (v->p[0].entered + v->p[1].entered == 1) { /* the user's first, on whichever connection */
        lt->entered_users++;
        if (v->first_us) {
            uint64_t lat = lt_now_us() - v->first_us;
            lt_hist_record(&lt->entered_h, lat);
            lt_hist_record(&lt->run->lat, lat);
            lt_hist_record(&lt->run->lat_sec, lat);
        }
    }
    lt__lottery_late(lt);
}

static int same_result(const lottery_t *lt, const lc_msg_t *m) {
    if (!lc_str_eq(m->seed, lt->seed) || m->entry_count != lt->entries || m->winner_list.n != lt->nwinners) return 0;
    for (size_t i = 0; i < lt->nwinners; i++)
        if (!lc_str_eq(m->winner_list.items[i], lt->winners[i])) return 0;
    return 1;
}

/* The first lottery_result, copied: the others are compared with it. */
static void keep_result(lottery_t *lt, const lc_msg_t *m) {
    lt->have_result = 1;
    snprintf(lt->seed, sizeof(lt->seed), "%.*s", (int)m->seed.n, m->seed.p);
    lt->entries = lc_msg_has(m, entry_count) ? m->entry_count : -1;
    lt->winners = calloc(m->winner_list.n ? m->winner_list.n : 1, sizeof(*lt->winners));
    if (!lt->winners) return;
    for (size_t i = 0; i < m->winner_list.n; i++) {
        lc_str_t w = m->winner_list.items[i];
        if (!(lt->winners[i] = strndup(w.p, w.n))) return;
        lt->nwinners = i + 1;
    }
}

static void on_result(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    if (!lc_str_eq(m->lottery, lt->id)) {
        lt->stray++;
        return;
    }
    uint64_t now = lt_now_us();
    lt->result_msgs++;
    if (!lt->first_result_us) lt->first_result_us = now;
    lt->last_result_us = now;
    if (!lt->shard_first_us[pe->shard]) lt->shard_first_us[pe->shard] = now;
    lt->shard_last_us[pe->shard] = now;
    if (lt->ends && now < (uint64_t)lt->ends * 1000u)
        lt->early_results++;
    else if (lt->ends)
        lt_hist_record(&lt->draw_h, now - (uint64_t)lt->ends * 1000u);
    if (!lt->have_result)
        keep_result(lt, m);
    else if (!same_result(lt, m))
        lt->results_differ++;
    if (pe->results++ == 0) {
        lt->results_peers++;
        lt__lottery_all_results(lt);
    }
}

static void on_won(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    if (!lc_str_eq(m->lottery, lt->id)) {
        lt->stray++;
        return;
    }
    lt->won_msgs++;
    pe->won++;
    if (!lc_str_eq(m->prize, LT_LOTTERY_PRIZE)) pe->won_bad++;
}

/* An error frame: a comment refused for a while is sent again (same req). */
static void on_error(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    lt_count_error(lt->run, m);
    if (!pe->v || !pe->acted) return;
    int rate = lc_str_eq(m->code, "rate_limited");
    if (rate || lc_str_eq(m->code, "unavailable") || lc_str_eq(m->code, "unknown")) {
        pe->comments_due = 1;
        resend_later(lt, pe, rate ? RATE_MS : UNAVAIL_MS);
    }
}

void lt__lottery_msg(lottery_t *lt, lpeer_t *pe, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_LOTTERY: on_lottery(lt, pe, m); break;
    case LC_MSG_ENTER: on_enter(lt, pe, m); break;
    case LC_MSG_ENTERED: on_entered(lt, pe, m); break;
    case LC_MSG_LOTTERY_RESULT: on_result(lt, pe, m); break;
    case LC_MSG_WON: on_won(lt, pe, m); break;
    case LC_MSG_GAP: lt->gaps++; break;
    case LC_MSG_ERROR: on_error(lt, pe, m); break;
    default: break;
    }
}
