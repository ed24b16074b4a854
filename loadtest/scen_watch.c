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
 * others count frames, so the tool stays cheaper than what it measures:
 * with --reader lean (the default) those read on the lean transport
 * (lean.c: their own handshake, one shared read buffer, frame headers
 * walked and payloads skipped), the sampled ones through libwebsockets.
 * --procs N (procs.c) spreads the viewers over N processes by global index;
 * the first publishes, all wait for each other before publishing and check
 * their viewers against the room totals of all of them.
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

#include "procs.h"
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

/* A lean viewer's messages, counted, not looked at: the same bookkeeping
 * as viewer_raw's, one call per read (the first livecart message is the
 * welcome; with --resume the small ones, hints among them, come through
 * viewer_raw instead). */
static void viewer_count(lt_conn_t *c, uint64_t frames, uint64_t bytes) {
    (void)bytes;
    viewer_t *v = lt_conn_user(c);
    if (!v || !frames) return;
    watch_t *w = v->w;
    if (!w->run->raw && !v->online) {
        if (w->run->resume)
            wr_viewer_welcome(w, v, NULL);
        else
            w_welcomed(v);
        frames--;
    }
    w->run->msgs += frames;
    w->delivered += frames;
    w->last_delivery_ms = lt_now_ms(w->run);
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
    snprintf(user, sizeof(user), "v%d-%u", w_gi(v->w, v), v->gen);
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

static const lt_conn_ops_t viewer_ops = {viewer_open, viewer_msg, viewer_raw, viewer_close, viewer_count};

/* The largest message a counted viewer of --resume looks at: a reconnect
 * hint is smaller (wr_viewer_raw decodes only what is this small). */
#define HINT_PEEK 96

int wv_open(watch_t *w, viewer_t *v) {
    lt_run_t *run = w->run;
    unsigned i = (unsigned)w_gi(w, v);
    v->open_us = lt_now_us();
    /* counted viewers read with the lean transport (--reader lean), the
     * sampled ones decode through libwebsockets; a reconnect (tries > 0)
     * goes to the next --url */
    int lean = run->lean && !v->sampled;
    v->c = (lean ? lt_conn_open_lean : lt_conn_open)(run->cl, lt_pick_target(run, i + v->tries),
                                                     w->rooms[v->room].name, lt_pick_fmt(run, i),
                                                     lt_pick_src(run, i), &viewer_ops, v);
    if (!v->c) return -1;
    if (lean && run->resume && lt_conn_set_peek(v->c, HINT_PEEK) != 0)
        fprintf(stderr, "viewer %u: no memory to look for reconnect hints\n", i);
    w->connecting++;
    return 0;
}

static void viewer_connect(watch_t *w, viewer_t *v) {
    lt_run_t *run = w->run;
    unsigned i = (unsigned)w_gi(w, v);
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
        if (!r->pub_ready && run->proc == 0) { /* --procs: the other processes only send likes */
            if (run->resume) { /* what it would have sent while away is not owed: no burst on return */
                r->forgiven_comments = run->rate * secs - (double)r->seq;
                r->forgiven_likes = run->like_rate * secs - (double)r->likes_owed;
            }
            continue;
        }
        r->comment_debt = run->proc == 0 ? run->rate * secs - (double)r->seq - r->forgiven_comments : 0;
        r->like_debt = run->like_rate * secs - (double)r->likes_owed - r->forgiven_likes;
        while (r->comment_debt >= 1.0) {
            w_send_comment(w, r);
            r->comment_debt -= 1.0;
        }
        if (run->raw) r->like_debt = 0; /* raw peers have no likes */
        while (r->like_debt >= 1.0) {
            w_send_like(w, r, i);
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

/* --procs: this process has published; the parent sums every process's
 * comments and likes per room and sends the totals back (on_parent). */
static void send_done(watch_t *w) {
    json_t *c = json_array(), *l = json_array();
    for (int i = 0; i < w->run->rooms; i++) {
        json_array_append_new(c, json_integer(w->rooms[i].seq));
        json_array_append_new(l, json_integer(w->rooms[i].likes_sent));
    }
    if (lt_procs_send(w->run, json_pack("{s{soso}}", "done", "comments", c, "likes", l)) == 0) w->done_sent = 1;
}

static void watch_on_parent(lt_run_t *run, const json_t *msg) {
    watch_t *w = run->sc_state;
    if (!w) return;
    if (json_is_true(json_object_get(msg, "go"))) w->go = 1;
    json_t *t = json_object_get(msg, "totals");
    if (!t) return;
    json_t *c = json_object_get(t, "comments"), *l = json_object_get(t, "likes");
    for (int i = 0; i < run->rooms; i++) {
        w->rooms[i].seq_total = json_integer_value(json_array_get(c, (size_t)i));
        w->rooms[i].likes_total = json_integer_value(json_array_get(l, (size_t)i));
    }
    w->totals = 1;
}

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
            behind = w->v[i].sampled && w->v[i].max_viewers < w->rooms[w->v[i].room].members_total;
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
    int ready = w->welcomed + w->failed >= w->n && pubs == (run->proc == 0 ? run->rooms : 0);
    if (ready && run->procs > 1 && !w->go) { /* every process's crowd joins before anyone publishes */
        if (!w->ready_sent && lt_procs_send(run, json_pack("{sb}", "ready", 1)) == 0) w->ready_sent = 1;
        return;
    }
    if (!w->publishing && !w->done_publishing && ready) {
        fprintf(stderr, "%d viewers in %d rooms: publishing %.0f comments/s and %.1f likes/s per room for %.0f s\n",
                w->welcomed, run->rooms, run->proc == 0 ? run->rate : 0.0, run->like_rate, run->duration);
        w->publishing = 1;
        w->pub_start_ms = lt_now_ms(run);
        w->delivered0 = w->delivered;
        lt_server_baseline(run);
    }
    if (w->done_publishing && !w->settling) {
        /* Let the last comments and the last coalesced counters arrive:
         * until every checked viewer has its room's last comment (a lagging
         * reader catches up; a lost message never arrives), at most 15 s,
         * then one more tick's worth for the counters. */
        if (!w->settle_start_ms) {
            w->settle_start_ms = lt_now_ms(run);
            for (int i = 0; i < run->rooms; i++) {
                w->rooms[i].seq_total = w->rooms[i].seq;
                w->rooms[i].likes_total = w->rooms[i].likes_sent;
            }
            if (run->procs > 1) send_done(w);
        }
        /* --procs: the room totals of every process come back from the parent */
        int behind = run->resume ? wr_behind(w) : run->procs > 1 && !w->totals;
        for (int i = 0; i < w->n && !behind && !run->resume; i++) {
            viewer_t *v = &w->v[i];
            behind = v->sampled && v->welcomed && !v->gone && w->rooms[v->room].seq_total > 0 &&
                     v->next_seq < w->rooms[v->room].seq_total;
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
    /* --size pads comments with chat-like text, not one repeated byte: what
     * permessage-deflate gets out of them is what it gets out of real chat */
    static const char chat[] = "omg that color is gorgeous, does it come in size M? just bought two! "
                               "how much is shipping to Canada? can you show the back please. link pls. "
                               "is the blue one still in stock? love your energy today! ";
    for (size_t i = 0; i < sizeof(w->pad); i++) w->pad[i] = chat[i % (sizeof(chat) - 1)];
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
        w->v[i].room = w_gi(w, &w->v[i]) % run->rooms;
        w->rooms[w->v[i].room].members++;
    }
    int total = run->procs > 1 ? run->conns_total : w->n;
    for (int i = 0; i < run->rooms; i++) /* global index g is in room g % rooms */
        w->rooms[i].members_total = total / run->rooms + (i < total % run->rooms);
    if (run->resume && wr_init(w) != 0) return -1;
    /* one publisher per room, in the first process only */
    int publishers = (mode_is(w, "watch") || mode_is(w, "churn")) && run->proc == 0;
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

static void watch_cleanup(lt_run_t *run) {
    watch_t *w = run->sc_state;
    if (run->resume) wr_free(w);
    free(w->v);
    free(w->rooms);
    free(w);
    run->sc_state = NULL;
}

const lt_scenario_t lt_scenario_watch = {"watch", "V viewers over R rooms, comments and likes per room",
                                         watch_start, w_progress, w_finish, watch_cleanup, watch_on_parent};
const lt_scenario_t lt_scenario_churn = {"churn", "watch plus --churn viewers/s leaving and joining",
                                         watch_start, w_progress, w_finish, watch_cleanup, watch_on_parent};
const lt_scenario_t lt_scenario_storm = {"storm", "V viewers join at once: time until all welcomed",
                                         watch_start, w_progress, w_finish, watch_cleanup, NULL};
const lt_scenario_t lt_scenario_idle = {"idle", "V viewers only keep alive (memory per connection)",
                                        watch_start, w_progress, w_finish, watch_cleanup, NULL};
