/*
 * Scenarios built on viewers watching rooms:
 *
 *   watch  V viewers over R rooms; per room one publisher (a streamer, so
 *          the comment limits do not apply) sends --rate comments/s and
 *          viewers send --like-rate like frames/s in total, for --duration s.
 *   churn  watch, plus --churn viewers per second leave and new ones join.
 *   storm  V viewers join as fast as possible; the result is the time until
 *          every one has its welcome.
 *   idle   V viewers join and only keep alive for --duration s (memory per
 *          connection, with --server-pid).
 *
 * --proto raw runs the same workload against a peer that speaks plain
 * WebSocket text (nchan, a Node ws broadcast server): viewers connect to
 * --url (with {room}), the publisher to --pub-url, messages are the bare
 * comment text. --sample N decodes and checks only every Nth viewer; the
 * others count frames, so the tool stays cheaper than what it measures.
 *
 * A comment's text is "<seq>:<send time us>:" padded to --size bytes, so
 * every viewer measures publish-to-deliver latency on the tool's own clock
 * and checks it got every comment of its room exactly once and in order.
 * A `gap` notice from the server is the documented exception (counted, not
 * a failure, unless --strict). Invariants at the end: no missing,
 * duplicated or reordered comment; every viewer's last likes total equals
 * the likes sent to its room; every room's viewer count reached its
 * viewers; every viewer joined.
 *
 * --resume (watch, churn): viewers and publishers reconnect when a shard
 * tells them to or goes away, resume with hello.since, and the checks above
 * hold across the reconnects (resume.c says how; it also reports the
 * reconnects and how long until every viewer was back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "watch.h"

#define MAX_CONNECTING 1000

static int mode_is(const watch_t *w, const char *m) { return strcmp(w->mode, m) == 0; }

/* ---- viewers ---- */

static void viewer_connect(watch_t *w, viewer_t *v);

int w_text_seq(const char *text, size_t tn, int64_t *seq, uint64_t *sent_us) {
    char buf[48];
    size_t n = tn < sizeof(buf) - 1 ? tn : sizeof(buf) - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    char *colon;
    *seq = strtoll(buf, &colon, 10);
    if (*colon != ':') return -1;
    *sent_us = strtoull(colon + 1, NULL, 10);
    return 0;
}

static void on_text(viewer_t *v, const char *text, size_t tn, int live) {
    watch_t *w = v->w;
    int64_t seq;
    uint64_t sent;
    if (w_text_seq(text, tn, &seq, &sent) != 0) return;
    if (live) {
        uint64_t now = lt_now_us();
        uint64_t lat = now > sent ? now - sent : 0;
        lt_hist_record(&w->run->lat, lat);
        lt_hist_record(&w->run->lat_sec, lat);
        w->comments_live++;
    }
    if (v->next_seq < 0 || seq == v->next_seq) {
        v->next_seq = seq + 1;
    } else if (seq < v->next_seq) {
        v->dups++;
    } else {
        v->missing += (uint32_t)(seq - v->next_seq);
        v->next_seq = seq + 1;
    }
}

static void on_comment(viewer_t *v, const lc_msg_t *m, int live) {
    if (lc_str_eq(m->user, "load-pub")) on_text(v, m->text.p, m->text.n, live);
}

void w_welcomed(viewer_t *v) {
    watch_t *w = v->w;
    if (v->welcomed) return;
    v->welcomed = 1;
    v->online = 1;
    w->connecting--;
    w->welcomed++;
    w->rooms[v->room].welcomed++;
    lt_hist_record(&w->welcome_h, lt_now_us() - v->open_us);
    if (w->welcomed == w->n && mode_is(w, "storm")) w->storm_done_us = lt_now_us();
}

/* Undecoded frames: a raw peer's messages, or a counting-only viewer. */
static void viewer_raw(lt_conn_t *c, const uint8_t *p, size_t n) {
    viewer_t *v = lt_conn_user(c);
    if (!v) return;
    watch_t *w = v->w;
    if (w->run->raw) {
        w->run->msgs++;
        w->delivered++;
        w->last_delivery_ms = lt_now_ms(w->run);
        if (v->sampled) on_text(v, (const char *)p, n, 1);
        return;
    }
    if (!v->online) { /* livecart's first frame is the welcome */
        if (w->run->resume)
            wr_viewer_welcome(w, v, NULL);
        else
            w_welcomed(v);
        return;
    }
    w->run->msgs++;
    w->delivered++;
    w->last_delivery_ms = lt_now_ms(w->run);
    if (w->run->resume) wr_viewer_raw(w, v, p, n);
}

static void viewer_open(lt_conn_t *c) {
    viewer_t *v = lt_conn_user(c);
    if (!v) return;
    if (v->w->run->raw) { /* a raw peer has no hello: open is joined */
        w_welcomed(v);
        return;
    }
    if (!v->sampled) lt_conn_set_raw(c, 1);
    char user[48], since[48];
    snprintf(user, sizeof(user), "v%d-%u", (int)(v - v->w->v), v->gen);
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr(user));
    if (v->w->run->resume && v->has_last) /* resume after the last entry it saw */
        lc_msg_set(&m, since, lc_str(since, lc_sid_format(v->last_id, since)));
    if (lt_conn_send(c, &m) != 0) fprintf(stderr, "viewer %s: cannot send hello\n", user);
}

static void viewer_msg(lt_conn_t *c, const lc_msg_t *m, size_t bytes) {
    viewer_t *v = lt_conn_user(c);
    if (!v) return; /* a churned connection on its way out */
    watch_t *w = v->w;
    w->run->msgs++;
    w->delivered++;
    w->last_delivery_ms = lt_now_ms(w->run);
    if (w->run->resume) {
        switch (m->type) {
        case LC_MSG_WELCOME:
            if (!v->online) wr_viewer_welcome(w, v, m);
            return;
        case LC_MSG_COMMENT:
        case LC_MSG_ANNOUNCE:
        case LC_MSG_PRODUCT:
            wr_viewer_entry(w, v, m);
            return;
        case LC_MSG_RECONNECT:
            wr_viewer_hint(w, v, m->after_ms);
            return;
        case LC_MSG_GAP:
            v->gaps++;
            wr_viewer_gap(w, v);
            return;
        default:
            break; /* likes, viewers, errors: as without --resume */
        }
    }
    switch (m->type) {
    case LC_MSG_WELCOME:
        if (v->welcomed) break;
        w_welcomed(v);
        v->last_likes = m->likes;
        if (m->viewers > v->max_viewers) v->max_viewers = m->viewers;
        for (size_t i = 0; i < m->history.n; i++) on_comment(v, &m->history.items[i], 0);
        break;
    case LC_MSG_COMMENT:
        on_comment(v, m, 1);
        break;
    case LC_MSG_LIKES:
        v->last_likes = m->total;
        break;
    case LC_MSG_VIEWERS:
        if (m->count > v->max_viewers) v->max_viewers = m->count;
        break;
    case LC_MSG_ERROR:
        lt_count_error(w->run, m);
        break;
    case LC_MSG_GAP:
        v->gaps++;
        v->next_seq = -1; /* documented: continue from what comes next */
        break;
    default:
        break;
    }
}

static void viewer_close(lt_conn_t *c, int code, const char *err) {
    viewer_t *v = lt_conn_user(c);
    if (!v) return;
    watch_t *w = v->w;
    v->c = NULL;
    if (code >= 0 && code < 5000) w->run->closes[code]++;
    if (w->run->resume && !w->run->stopping) {
        wr_viewer_closed(w, v, c, code);
        return;
    }
    if (!v->welcomed && !v->left_on_purpose) {
        w->connecting--;
        w->failed++;
        if (err && w->failed <= 5) fprintf(stderr, "viewer failed: %s\n", err);
    }
    if (!v->left_on_purpose && !w->run->stopping && v->welcomed) w->unexpected_close++;
    v->gone = 1;
}

static const lt_conn_ops_t viewer_ops = {viewer_open, viewer_msg, viewer_raw, viewer_close};

int wv_open(watch_t *w, viewer_t *v) {
    lt_run_t *run = w->run;
    unsigned i = (unsigned)(v - w->v);
    v->open_us = lt_now_us();
    /* a reconnect (tries > 0) goes to the next --url */
    v->c = lt_conn_open(run->cl, lt_pick_target(run, i + v->tries), w->rooms[v->room].name,
                        lt_pick_fmt(run, i), lt_pick_src(run, i), &viewer_ops, v);
    if (!v->c) return -1;
    w->connecting++;
    return 0;
}

static void viewer_connect(watch_t *w, viewer_t *v) {
    lt_run_t *run = w->run;
    unsigned i = (unsigned)(v - w->v);
    v->w = w;
    v->welcomed = v->gone = v->left_on_purpose = 0;
    v->next_seq = -1;
    v->max_viewers = 0;
    v->sampled = run->sample <= 1 || i % (unsigned)run->sample == 0;
    if (run->resume) wr_viewer_reset(w, v);
    v->online = 0;
    if (wv_open(w, v) == 0) return;
    if (run->resume) { /* retried with backoff */
        wr_viewer_open_failed(w, v);
        return;
    }
    v->gone = 1;
    w->failed++;
}

/* ---- publishers ---- */

static void pub_open(lt_conn_t *c) {
    wroom_t *r = lt_conn_user(c);
    if (lt_conn_fmt(c) == LT_FMT_RAW) {
        r->pub_ready = 1;
        return;
    }
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr("load-pub"));
    lc_msg_set(&m, role, lc_cstr("streamer"));
    char since[48];
    if (r->w->run->resume && r->pub_has_last)
        lc_msg_set(&m, since, lc_str(since, lc_sid_format(r->pub_last, since)));
    if (lt_conn_send(c, &m) != 0) fprintf(stderr, "publisher of %s: cannot send hello\n", r->name);
}

static void pub_msg(lt_conn_t *c, const lc_msg_t *m, size_t bytes) {
    wroom_t *r = lt_conn_user(c);
    if (!r) return; /* --resume: a connection left behind */
    if (r->w->run->resume) wr_pub_msg(r->w, (int)(r - r->w->rooms), m);
    if (m->type == LC_MSG_WELCOME) r->pub_ready = 1;
    else if (m->type == LC_MSG_ERROR)
        fprintf(stderr, "publisher of %s: error %.*s %.*s\n", r->name, (int)m->code.n, m->code.p,
                (int)m->message.n, m->message.p);
}

static void pub_close(lt_conn_t *c, int code, const char *err) {
    wroom_t *r = lt_conn_user(c);
    if (!r) return;
    r->pub = NULL;
    r->pub_ready = 0;
    if (r->w->run->resume && !r->w->run->stopping) wr_pub_closed(r->w, (int)(r - r->w->rooms), c, code);
}

static const lt_conn_ops_t pub_ops = {pub_open, pub_msg, NULL, pub_close};

int wp_open(watch_t *w, int i) {
    lt_run_t *run = w->run;
    wroom_t *r = &w->rooms[i];
    const lt_target_t *pt = run->raw ? &run->pub_target : lt_pick_target(run, (unsigned)i + r->pub_tries);
    r->pub = lt_conn_open(run->cl, pt, r->name, run->raw ? LT_FMT_RAW : LC_FMT_JSON, NULL, &pub_ops, r);
    return r->pub ? 0 : -1;
}

static void send_comment(watch_t *w, wroom_t *r) {
    char text[512];
    int n = snprintf(text, sizeof(text), "%lld:%llu:", (long long)r->seq,
                     (unsigned long long)lt_now_us());
    size_t want = w->run->size > 0 ? (size_t)w->run->size : (size_t)n;
    if (want > 500) want = 500;
    if ((size_t)n < want) {
        memcpy(text + n, w->pad, want - (size_t)n);
        n = (int)want;
    }
    if (w->run->resume && wr_reserve(r, r->seq) != 0) return; /* out of memory: not sent */
    if (w->run->raw) {
        if (lt_conn_send_raw(r->pub, text, (size_t)n) == 0) r->seq++;
        return;
    }
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_COMMENT);
    lc_msg_set(&m, text, lc_str(text, (size_t)n));
    if (lt_conn_send(r->pub, &m) == 0) r->seq++;
}

static void send_like(watch_t *w, wroom_t *r, int room) {
    /* spread like frames over the room's viewers, as a crowd does */
    for (int tries = 0; tries < w->n; tries++) {
        viewer_t *v = &w->v[(w->like_rr++) % w->n];
        if (v->room != room || !v->c || !v->welcomed) continue;
        if (w->run->resume && (!v->online || v->disturbed)) continue; /* not on a closing connection */
        lc_msg_t m;
        lc_msg_init(&m, LC_MSG_LIKE);
        lc_msg_set(&m, count, 1);
        if (lt_conn_send(v->c, &m) == 0) r->likes_sent++;
        return;
    }
}

/* Every 10 ms: publish what the rates owe, churn viewers. */
static void on_pacer(uv_timer_t *t) {
    watch_t *w = t->data;
    lt_run_t *run = w->run;
    if (!w->publishing) return;
    if (lt_now_ms(run) - w->pub_start_ms >= (uint64_t)(run->duration * 1000)) {
        w->publishing = 0;
        w->done_publishing = 1;
        return;
    }
    /* owed = rate x time since publishing began, so a late timer (a busy
     * tool) catches up instead of quietly lowering the offered load */
    double secs = (double)(lt_now_ms(run) - w->pub_start_ms) / 1000.0;
    for (int i = 0; i < run->rooms; i++) {
        wroom_t *r = &w->rooms[i];
        if (!r->pub_ready) {
            if (run->resume) { /* what it would have sent while away is not owed: no burst on return */
                r->forgiven_comments = run->rate * secs - (double)r->seq;
                r->forgiven_likes = run->like_rate * secs - (double)r->likes_owed;
            }
            continue;
        }
        r->comment_debt = run->rate * secs - (double)r->seq - r->forgiven_comments;
        r->like_debt = run->like_rate * secs - (double)r->likes_owed - r->forgiven_likes;
        while (r->comment_debt >= 1.0) {
            send_comment(w, r);
            r->comment_debt -= 1.0;
        }
        if (run->raw) r->like_debt = 0; /* raw peers have no likes */
        while (r->like_debt >= 1.0) {
            send_like(w, r, i);
            r->likes_owed++;
            r->like_debt -= 1.0;
        }
    }
    if (mode_is(w, "churn") && run->churn > 0) {
        static const double step = 0.01;
        double want = run->churn * step;
        int k = (int)want + ((double)rand() / RAND_MAX < want - (int)want);
        for (int j = 0; j < k; j++) {
            viewer_t *v = &w->v[rand() % w->n];
            if (!v->c || !v->welcomed) continue;
            if (run->resume && (!v->online || v->disturbed || v->pending)) continue;
            /* the old connection leaves (detached from the slot), a new
             * viewer with a new name takes the slot at once */
            lt_conn_set_user(v->c, NULL);
            lt_conn_close(v->c);
            v->c = NULL;
            v->gen++;
            w->churned++;
            w->rooms[v->room].welcomed--;
            w->welcomed--;
            viewer_connect(w, v);
        }
    }
}

/* ---- phases ---- */

static void on_settled(uv_timer_t *t) { lt_finish(((watch_t *)t->data)->run); }

static void on_phase(uv_timer_t *t) {
    watch_t *w = t->data;
    lt_run_t *run = w->run;
    if (mode_is(w, "storm")) {
        /* all welcomed: then give the coalesced viewer count (a tick or
         * two) up to 3 s to reach everyone */
        if (w->welcomed + w->failed < w->n) return;
        if (!w->pub_start_ms) w->pub_start_ms = lt_now_ms(run);
        int behind = 0;
        for (int i = 0; i < w->n && !behind && !run->raw; i++)
            behind = w->v[i].sampled && w->v[i].max_viewers < w->rooms[w->v[i].room].members;
        if (!behind || lt_now_ms(run) - w->pub_start_ms > 3000) lt_finish(run);
        return;
    }
    if (mode_is(w, "idle")) {
        if (w->welcomed + w->failed >= w->n && !w->pub_start_ms) {
            w->pub_start_ms = lt_now_ms(run);
            lt_server_baseline(run);
            fprintf(stderr, "%d viewers joined: holding them idle for %.0f s\n", w->welcomed, run->duration);
        }
        if (w->pub_start_ms && lt_now_ms(run) - w->pub_start_ms >= (uint64_t)(run->duration * 1000))
            lt_finish(run);
        return;
    }
    int pubs = 0;
    for (int i = 0; i < run->rooms; i++) pubs += w->rooms[i].pub_ready;
    if (!w->publishing && !w->done_publishing && w->welcomed + w->failed >= w->n && pubs == run->rooms) {
        fprintf(stderr, "%d viewers in %d rooms: publishing %.0f comments/s and %.0f likes/s per room for %.0f s\n",
                w->welcomed, run->rooms, run->rate, run->like_rate, run->duration);
        w->publishing = 1;
        w->pub_start_ms = lt_now_ms(run);
        lt_server_baseline(run);
    }
    if (w->done_publishing && !w->settling) {
        /* Let the last comments and the last coalesced counters arrive:
         * until every checked viewer has its room's last comment (a lagging
         * reader catches up; a lost message never arrives), at most 15 s,
         * then one more tick's worth for the counters. */
        if (!w->settle_start_ms) w->settle_start_ms = lt_now_ms(run);
        int behind = run->resume ? wr_behind(w) : 0;
        for (int i = 0; i < w->n && !behind && !run->resume; i++) {
            viewer_t *v = &w->v[i];
            behind = v->sampled && v->welcomed && !v->gone && w->rooms[v->room].seq > 0 &&
                     v->next_seq < w->rooms[v->room].seq;
        }
        if (behind && lt_now_ms(run) - w->settle_start_ms < 15000) return;
        w->settling = 1;
        uv_timer_stop(&w->phase);
        uv_timer_start(&w->phase, on_settled, 1000, 0);
    }
}

static void on_opener(uv_timer_t *t) {
    watch_t *w = t->data;
    lt_run_t *run = w->run;
    int budget = run->ramp > 0 ? (int)(run->ramp / 100.0 + 1) : MAX_CONNECTING;
    while (w->next < (unsigned)w->n && budget-- > 0 && w->connecting < MAX_CONNECTING)
        viewer_connect(w, &w->v[w->next++]);
    if (w->next >= (unsigned)w->n) uv_timer_stop(t);
}

static int watch_start(lt_run_t *run) {
    watch_t *w = calloc(1, sizeof(*w));
    if (!w) return -1;
    run->sc_state = w;
    w->run = run;
    w->mode = run->sc->name;
    w->n = run->conns;
    w->v = calloc((size_t)w->n, sizeof(*w->v));
    w->rooms = calloc((size_t)run->rooms, sizeof(*w->rooms));
    if (!w->v || !w->rooms) return -1;
    memset(w->pad, 'x', sizeof(w->pad));
    lt_hist_init(&w->welcome_h);
    for (int i = 0; i < run->rooms; i++) {
        wroom_t *r = &w->rooms[i];
        r->w = w;
        if (run->rooms == 1)
            snprintf(r->name, sizeof(r->name), "%s", run->room);
        else
            snprintf(r->name, sizeof(r->name), "%.50s-%d", run->room, i);
    }
    for (int i = 0; i < w->n; i++) {
        w->v[i].w = w;
        w->v[i].room = i % run->rooms;
        w->rooms[i % run->rooms].members++;
    }
    if (run->resume && wr_init(w) != 0) return -1;
    int publishers = mode_is(w, "watch") || mode_is(w, "churn");
    for (int i = 0; publishers && i < run->rooms; i++) {
        if (wp_open(w, i) != 0) {
            fprintf(stderr, "cannot open the publisher of %s\n", w->rooms[i].name);
            return -1;
        }
    }
    uv_timer_init(run->loop, &w->opener);
    uv_timer_init(run->loop, &w->pacer);
    uv_timer_init(run->loop, &w->phase);
    w->opener.data = w->pacer.data = w->phase.data = w;
    w->storm_start_us = lt_now_us();
    uv_timer_start(&w->opener, on_opener, 0, 10);
    uv_timer_start(&w->pacer, on_pacer, 10, 10);
    uv_timer_start(&w->phase, on_phase, 50, 50);
    return 0;
}

static void watch_progress(lt_run_t *run, char *line, size_t cap) {
    watch_t *w = run->sc_state;
    uint64_t missing = 0;
    for (int i = 0; i < w->n; i++) missing += w->v[i].missing;
    int n = snprintf(line, cap, " welcomed=%d connecting=%d missing=%llu%s", w->welcomed, w->connecting,
                     (unsigned long long)missing, w->publishing ? " publishing" : "");
    if (run->resume && n > 0 && (size_t)n < cap) wr_progress(w, line + n, cap - (size_t)n);
}

static int watch_finish(lt_run_t *run, json_t *report) {
    watch_t *w = run->sc_state;
    uv_timer_stop(&w->opener);
    uv_timer_stop(&w->pacer);
    uv_timer_stop(&w->phase);
    uv_close((uv_handle_t *)&w->opener, NULL);
    uv_close((uv_handle_t *)&w->pacer, NULL);
    uv_close((uv_handle_t *)&w->phase, NULL);
    if (run->resume) wr_stop(w);

    uint64_t missing = 0, dups = 0, gaps = 0, tail_missing = 0, bad_likes = 0, bad_viewers = 0;
    int64_t sent = 0, likes = 0;
    for (int i = 0; i < run->rooms; i++) {
        sent += w->rooms[i].seq;
        likes += w->rooms[i].likes_sent;
    }
    int checked = 0;
    for (int i = 0; i < w->n; i++) {
        viewer_t *v = &w->v[i];
        wroom_t *r = &w->rooms[v->room];
        missing += v->missing;
        dups += v->dups;
        gaps += v->gaps;
        if (!v->welcomed || v->gone || !v->sampled) continue;
        checked++;
        if (r->seq > 0 && v->next_seq != r->seq) tail_missing += (uint64_t)(r->seq - (v->next_seq < 0 ? 0 : v->next_seq));
        if (run->raw) continue; /* raw peers have no likes or counts */
        if (v->last_likes != r->likes_sent) bad_likes++;
        /* the room's count includes its publisher */
        int expect = r->members + (r->pub ? 1 : 0);
        if (!mode_is(w, "churn") && v->max_viewers < expect) bad_viewers++;
    }
    /* delivered frames per second, from the first publish to the last
     * frame received (a server that lags keeps delivering after the
     * publisher stopped: that time counts too) */
    double secs = 0;
    if ((mode_is(w, "watch") || mode_is(w, "churn")) && w->last_delivery_ms > w->pub_start_ms)
        secs = (double)(w->last_delivery_ms - w->pub_start_ms) / 1000.0;
    if (secs < run->duration && secs > 0) secs = run->duration;
    double rate = secs > 0 ? (double)w->delivered / secs : 0;
    double storm_s = w->storm_done_us ? (double)(w->storm_done_us - w->storm_start_us) / 1e6 : 0;

    json_t *res = json_pack("{sssisisisIsIsIsIsIsIsIsf}", "mode", w->mode, "viewers", w->n, "welcomed",
                            w->welcomed, "failed", w->failed, "comments_sent", (json_int_t)sent,
                            "likes_sent", (json_int_t)likes, "delivered", (json_int_t)w->delivered,
                            "comments_delivered_live", (json_int_t)w->comments_live, "missing",
                            (json_int_t)(missing + tail_missing), "duplicates", (json_int_t)dups, "gaps",
                            (json_int_t)gaps, "delivered_per_s", rate);
    json_object_set_new(res, "churned", json_integer(w->churned));
    json_object_set_new(res, "storm_seconds", json_real(storm_s));
    lt_hist_json(res, "deliver_latency_us", &run->lat);
    lt_hist_json(res, "welcome_us", &w->welcome_h);
    json_object_set_new(report, "result", res);
    fprintf(stderr,
            "%s: %d viewers (%d welcomed, %d failed) in %d rooms; %lld comments sent, %llu delivered live, "
            "%.0f frames/s delivered\n"
            "  deliver latency p50 %.2f ms p90 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms\n"
            "  welcome time p50 %.2f ms p99 %.2f ms max %.2f ms\n",
            w->mode, w->n, w->welcomed, w->failed, run->rooms, (long long)sent,
            (unsigned long long)w->comments_live, rate, lt_hist_percentile(&run->lat, 50) / 1000.0,
            lt_hist_percentile(&run->lat, 90) / 1000.0, lt_hist_percentile(&run->lat, 99) / 1000.0,
            lt_hist_percentile(&run->lat, 99.9) / 1000.0, run->lat.max / 1000.0,
            lt_hist_percentile(&w->welcome_h, 50) / 1000.0, lt_hist_percentile(&w->welcome_h, 99) / 1000.0,
            w->welcome_h.max / 1000.0);
    if (storm_s > 0) fprintf(stderr, "  storm: all %d welcomed after %.2f s\n", w->n, storm_s);

    json_t *inv = json_object();
    int failed = 0;
    failed += lt_check(run, inv, "every_viewer_joined",
                       w->failed == 0 && (mode_is(w, "churn") || w->welcomed == w->n),
                       "%d of %d welcomed, %d failed", w->welcomed, w->n, w->failed);
    if (run->resume) {
        failed += wr_finish(w, res, inv);
    } else if (mode_is(w, "watch") || mode_is(w, "churn")) {
        failed += lt_check(run, inv, "every_comment_once_in_order",
                           missing + tail_missing == 0 && dups == 0 && (gaps == 0 || !run->strict),
                           "%llu missing, %llu duplicated or reordered, %llu gap notices over %d viewers",
                           (unsigned long long)(missing + tail_missing), (unsigned long long)dups,
                           (unsigned long long)gaps, checked);
        if (!run->raw)
        failed += lt_check(run, inv, "likes_total_equals_likes_sent", bad_likes == 0,
                           "%llu viewers whose last likes total differs from the %lld likes sent",
                           (unsigned long long)bad_likes, (long long)likes);
        failed += lt_check(run, inv, "no_unexpected_close", w->unexpected_close == 0, "%llu viewers closed",
                           (unsigned long long)w->unexpected_close);
    }
    if (!mode_is(w, "churn") && !run->raw)
        failed += lt_check(run, inv, "viewer_count_reached", bad_viewers == 0,
                           "%llu viewers never saw their room's full count", (unsigned long long)bad_viewers);
    json_object_set_new(report, "invariants", inv);
    for (int i = 0; i < w->n; i++)
        if (w->v[i].c) lt_conn_close(w->v[i].c);
    for (int i = 0; i < run->rooms; i++)
        if (w->rooms[i].pub) lt_conn_close(w->rooms[i].pub);
    return failed;
}

static void watch_cleanup(lt_run_t *run) {
    watch_t *w = run->sc_state;
    if (run->resume) wr_free(w);
    free(w->v);
    free(w->rooms);
    free(w);
    run->sc_state = NULL;
}

const lt_scenario_t lt_scenario_watch = {"watch", "V viewers over R rooms, comments and likes per room",
                                         watch_start, watch_progress, watch_finish, watch_cleanup};
const lt_scenario_t lt_scenario_churn = {"churn", "watch plus --churn viewers/s leaving and joining",
                                         watch_start, watch_progress, watch_finish, watch_cleanup};
const lt_scenario_t lt_scenario_storm = {"storm", "V viewers join at once: time until all welcomed",
                                         watch_start, watch_progress, watch_finish, watch_cleanup};
const lt_scenario_t lt_scenario_idle = {"idle", "V viewers only keep alive (memory per connection)",
                                        watch_start, watch_progress, watch_finish, watch_cleanup};
