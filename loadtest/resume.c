/*
 * watch/churn --resume: viewers and publishers that survive a rolling
 * restart of the shards, and the check that no comment is lost, duplicated
 * or reordered across their reconnects.
 *
 * Reconnecting (PROTOCOL.md, "Shutdown and reconnecting"): a viewer that
 * receives {"type":"reconnect","after_ms":J} reconnects J ms later. A
 * publisher does not wait (publishers are few; the jitter is for crowds): it
 * stops sending on the hinted connection at once, closes it (1000) once its
 * queued frames are written, and reconnects as soon as it has closed. The
 * shard closes the connection at J by its own clock, which the tool reaches
 * late (the hint's transit, a busy loop), and a comment the shard has not
 * read by then is gone: sending until J lost several per hint. Waiting for
 * the close also means the old shard has handled everything sent on it
 * before the new connection opens (no reordering across the two). A connection
 * that closes without a hint (1001, 1006, refused, HTTP 503 at the upgrade)
 * reconnects after an exponential backoff with full jitter (100 ms doubling
 * up to 2 s, a uniform delay below that), plus Retry-After when a refused
 * upgrade carried one. Every attempt goes to the next --url (with one
 * haproxy URL: the same one). The hello carries since = the newest stream
 * id the viewer saw (comment, announce, product; welcome.last if none), and
 * the new welcome's history is checked as if it had arrived live. A `gap`
 * notice is resumed the same way at once, so even a slow reader must get
 * every comment. Counting-only viewers (--sample) cannot know their last
 * id: they resume from the newest id anyone in the tool saw in their room.
 *
 * "Published": a comment whose send was not echoed before its connection
 * died may or may not have reached Redis, and the publisher never resends
 * it (a resend would be a second comment). So the tool's truth is what it
 * saw: a comment is published when anyone (the publisher's echo or resume
 * history, any checked viewer) saw it with a stream id. Sent but never seen
 * is "unconfirmed" (reported, not a failure). Every checked viewer must
 * then get every published comment of its room once, in order, from its
 * first one on: a viewer that goes past a comment counts as a skip of that
 * sequence number in the room's ledger, and at the end the skips of
 * published comments, plus the published comments after a viewer's last,
 * are the lost ones. A comment at most 64 behind the newest a viewer has is
 * classed exactly (duplicate, or late = out of order); older ones count as
 * duplicates. The publisher resumes like a viewer (its own history tells
 * which of its unechoed sends were applied) and keeps its pace: what it
 * would have sent while away is not sent in a burst on its return.
 *
 * Reported (result.resume): hints and closes without one, reconnect
 * attempts and refusals (HTTP 503, Retry-After honoured, others, connect
 * failures), rejoins and rejoined viewers, outages (from the first hint or
 * close until every viewer was joined again: each one and the longest),
 * the peak rejoin rate (welcomes in any sliding second), recovered:false
 * welcomes, gap resumes, lost / duplicated / out-of-order comments,
 * published and unconfirmed counts, and the latency of comments that came
 * through a resume's history. The run fails on any lost, duplicated or
 * out-of-order comment and when a viewer or publisher is not back at the
 * end (likes: every viewer agrees on its room's total, at most those sent).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 2000
#define FIRE_BATCH 2000 /* reconnects opened per timer run at most */

enum { E_HISTORY, E_LIVE, E_RESUMED };

/* ---- the schedule: a binary heap by due time ---- */

static int heap_push(wresume_t *rs, uint64_t due, int who) {
    if (rs->nheap == rs->capheap) return -1;
    int i = rs->nheap++;
    while (i > 0 && rs->heap[(i - 1) / 2].due_ms > due) {
        rs->heap[i] = rs->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    rs->heap[i].due_ms = due;
    rs->heap[i].who = who;
    return 0;
}

static wdue_t heap_pop(wresume_t *rs) {
    wdue_t top = rs->heap[0], last = rs->heap[--rs->nheap];
    int i = 0;
    for (;;) {
        int k = 2 * i + 1;
        if (k >= rs->nheap) break;
        if (k + 1 < rs->nheap && rs->heap[k + 1].due_ms < rs->heap[k].due_ms) k++;
        if (rs->heap[k].due_ms >= last.due_ms) break;
        rs->heap[i] = rs->heap[k];
        i = k;
    }
    if (rs->nheap) rs->heap[i] = last;
    return top;
}

static void on_due(uv_timer_t *t);

static void arm(watch_t *w) {
    wresume_t *rs = &w->rs;
    if (!rs->nheap || w->run->stopping) return;
    uint64_t now = lt_now_ms(w->run), due = rs->heap[0].due_ms;
    uv_timer_start(&rs->timer, on_due, due > now ? due - now : 0, 0);
}

static void schedule(watch_t *w, int who, uint64_t delay_ms) {
    if (heap_push(&w->rs, lt_now_ms(w->run) + delay_ms, who) != 0) {
        fprintf(stderr, "resume: reconnect schedule full\n"); /* cannot happen: one entry each */
        return;
    }
    if (who >= 0)
        w->v[who].pending = 1;
    else
        w->rooms[-1 - who].pub_pending = 1;
    arm(w);
}

/* Full jitter: uniform in [0, min(cap, base * 2^failures)], plus
 * Retry-After when the refusal said when to come back. */
static uint64_t backoff_ms(unsigned failures, int retry_after_s) {
    uint64_t lim = BACKOFF_BASE_MS;
    for (unsigned i = 0; i < failures && lim < BACKOFF_CAP_MS; i++) lim *= 2;
    if (lim > BACKOFF_CAP_MS) lim = BACKOFF_CAP_MS;
    uint64_t d = (uint64_t)rand() % (lim + 1);
    if (retry_after_s > 0 && retry_after_s < 600) d += (uint64_t)retry_after_s * 1000;
    return d;
}

/* ---- outages and the rejoin rate ---- */

static void disturb(watch_t *w, viewer_t *v) {
    wresume_t *rs = &w->rs;
    if (v->disturbed || !v->welcomed) return;
    v->disturbed = 1;
    if (rs->disturbed++ == 0) {
        rs->event_start_ms = lt_now_ms(w->run);
        rs->event_viewers = 0;
    }
    rs->event_viewers++;
}

static void settle(watch_t *w, viewer_t *v) {
    wresume_t *rs = &w->rs;
    if (!v->disturbed) return;
    v->disturbed = 0;
    if (--rs->disturbed) return;
    uint64_t now = lt_now_ms(w->run);
    double secs = (double)(now - rs->event_start_ms) / 1000.0;
    if (secs > rs->max_event_s) rs->max_event_s = secs;
    json_array_append_new(rs->events, json_pack("{sfsfsi}", "start_s",
                                                (double)(rs->event_start_ms - w->run->t0_ms) / 1000.0,
                                                "seconds", secs, "viewers", rs->event_viewers));
}

static void count_rejoin(wresume_t *rs, uint64_t now_ms) {
    uint64_t t = now_ms / 10;
    if (t > rs->bucket_t) {
        uint64_t steps = t - rs->bucket_t > 100 ? 100 : t - rs->bucket_t;
        for (uint64_t k = 1; k <= steps; k++) {
            uint32_t *b = &rs->bucket[(rs->bucket_t + k) % 100];
            rs->window_sum -= *b;
            *b = 0;
        }
        rs->bucket_t = t;
    }
    rs->bucket[t % 100]++;
    if (++rs->window_sum > rs->peak_rate) rs->peak_rate = rs->window_sum;
}

/* ---- the ledger ---- */

int wr_reserve(wroom_t *r, int64_t seq) {
    wledger_t *l = &r->led;
    if (seq < l->cap) return 0;
    int64_t cap = l->cap ? l->cap * 2 : 1024;
    while (cap <= seq) cap *= 2;
    uint8_t *seen = realloc(l->seen, (size_t)cap);
    if (seen) l->seen = seen;
    uint32_t *skips = realloc(l->skips, (size_t)cap * sizeof(*skips));
    if (skips) l->skips = skips;
    lc_sid_t *ids = realloc(l->ids, (size_t)cap * sizeof(*ids));
    if (ids) l->ids = ids;
    if (!seen || !skips || !ids) return -1;
    memset(l->seen + l->cap, 0, (size_t)(cap - l->cap));
    memset(l->skips + l->cap, 0, (size_t)(cap - l->cap) * sizeof(*skips));
    l->cap = cap;
    return 0;
}

static void observe(wroom_t *r, int64_t seq, lc_sid_t id) {
    wledger_t *l = &r->led;
    if (seq < 0 || seq >= r->seq || seq >= l->cap) return; /* not this run's */
    if (!l->seen[seq]) {
        l->seen[seq] = 1;
        l->ids[seq] = id;
        l->published++;
        if (seq > l->max_seen) l->max_seen = seq;
    } else if (lc_sid_cmp(l->ids[seq], id) != 0) {
        l->twice++;
    }
}

static void bump(lc_sid_t *last, uint8_t *has, lc_sid_t id) {
    if (!*has || lc_sid_cmp(id, *last) > 0) *last = id;
    *has = 1;
}

/* Comment seq of this run reached checked viewer v. */
static void check(viewer_t *v, wroom_t *r, int64_t seq) {
    if (seq < 0 || seq >= r->seq || seq >= r->led.cap) return;
    if (v->next_seq < 0) { /* the first: everything before it is not this viewer's */
        v->next_seq = seq + 1;
        v->window = ~(uint64_t)0;
        return;
    }
    if (seq >= v->next_seq) {
        for (int64_t k = v->next_seq; k < seq; k++) r->led.skips[k]++;
        int64_t shift = seq + 1 - v->next_seq;
        v->window = shift >= 64 ? 1 : (v->window << shift) | 1;
        v->next_seq = seq + 1;
        return;
    }
    int64_t back = v->next_seq - 1 - seq;
    if (back < 64 && !(v->window >> back & 1)) {
        v->ooo++; /* went past it earlier: late, not lost */
        v->window |= (uint64_t)1 << back;
        r->led.skips[seq]--;
    } else {
        v->dups++;
    }
}

/* 1 if m is one of our publishers' comments; its sequence and send time. */
static int pub_comment(const lc_msg_t *m, int64_t *seq, uint64_t *sent) {
    return m->type == LC_MSG_COMMENT && lc_str_eq(m->user, "load-pub") &&
           w_text_seq(m->text.p, m->text.n, seq, sent) == 0;
}

static int entry_id(const lc_msg_t *m, lc_sid_t *id) {
    return lc_msg_has(m, id) && lc_sid_parse(id, m->id.p, m->id.n) == 0;
}

static void viewer_entry(watch_t *w, viewer_t *v, const lc_msg_t *m, int kind) {
    wroom_t *r = &w->rooms[v->room];
    lc_sid_t id;
    int has_id = entry_id(m, &id);
    if (has_id) {
        bump(&v->last_id, &v->has_last, id);
        bump(&r->newest, &r->has_newest, id);
    }
    int64_t seq;
    uint64_t sent;
    if (!pub_comment(m, &seq, &sent)) return;
    uint64_t now = lt_now_us(), lat = now > sent ? now - sent : 0;
    if (kind == E_LIVE) {
        lt_hist_record(&w->run->lat, lat);
        lt_hist_record(&w->run->lat_sec, lat);
        w->comments_live++;
    } else if (kind == E_RESUMED) {
        lt_hist_record(&w->rs.history_lat, lat);
        w->rs.history_comments++;
    }
    if (has_id) observe(r, seq, id);
    check(v, r, seq);
}

void wr_viewer_entry(watch_t *w, viewer_t *v, const lc_msg_t *m) { viewer_entry(w, v, m, E_LIVE); }

/* ---- viewers ---- */

/* How a connection ended (viewer or publisher): counts it; returns the
 * Retry-After (s) of a refused upgrade, else 0. */
static int count_close(wresume_t *rs, lt_conn_t *c, int code) {
    if (code == 0) {
        int st = lt_conn_http_status(c), retry_after = lt_conn_retry_after(c);
        if (st == 503)
            rs->refused_503++;
        else if (st)
            rs->refused_other++;
        else
            rs->connect_failed++;
        if (retry_after > 0) rs->retry_after_waits++;
        if (st && st != 503 && rs->refused_other <= 5) fprintf(stderr, "upgrade refused: HTTP %d\n", st);
        return retry_after;
    }
    if (code != 1001 && code != 1006) {
        rs->unexpected++;
        if (rs->unexpected <= 5) fprintf(stderr, "connection closed with %d\n", code);
    }
    return 0;
}

static int vidx(watch_t *w, viewer_t *v) { return (int)(v - w->v); }

/* Lets go of v's connection (its callbacks see NULL from now on). */
static void detach(watch_t *w, viewer_t *v) {
    if (!v->c) return;
    lt_conn_set_user(v->c, NULL);
    lt_conn_close(v->c);
    v->c = NULL;
    if (v->online) {
        v->online = 0;
        v->off_ms = lt_now_ms(w->run);
        w->rs.online--;
    } else {
        w->connecting--;
    }
}

/* Handshakes one tool process keeps in flight. Real viewers are separate
 * devices; one lws client with thousands of handshakes at once stalls on
 * its own timeout list (O(n) inserts: seconds at 8,000), which would
 * measure the tool, not the shards. Over it, a reconnect waits its turn. */
#define RESUME_MAX_CONNECTING 1000

static void fire_viewer(watch_t *w, viewer_t *v) {
    wroom_t *r = &w->rooms[v->room];
    if (w->connecting >= RESUME_MAX_CONNECTING) {
        w->rs.deferred++;
        schedule(w, vidx(w, v), 5 + (uint64_t)(rand() % 20));
        return;
    }
    v->pending = 0;
    detach(w, v);
    if (!v->sampled) { /* a counting-only viewer: as up to date as the room */
        v->last_id = r->newest;
        v->has_last = r->has_newest;
    }
    v->tries++;
    w->rs.attempts++;
    if (wv_open(w, v) == 0) return;
    w->rs.connect_failed++;
    schedule(w, vidx(w, v), backoff_ms(++v->backoff, 0));
}

int wr_viewer_welcome(watch_t *w, viewer_t *v, const lc_msg_t *m) {
    wresume_t *rs = &w->rs;
    int rejoin = v->welcomed;
    rs->online++;
    v->backoff = 0;
    if (rejoin) {
        w->connecting--;
        v->online = 1;
        rs->rejoins++;
        if (!v->rejoined) {
            v->rejoined = 1;
            rs->rejoined_viewers++;
        }
        count_rejoin(rs, lt_now_ms(w->run));
        if (v->off_ms) lt_hist_record(&rs->offline, (lt_now_ms(w->run) - v->off_ms) * 1000);
        settle(w, v);
    } else {
        w_welcomed(v);
    }
    if (!m) return rejoin;
    if (lc_msg_has(m, recovered) && !m->recovered) rs->not_recovered++;
    v->last_likes = m->likes;
    if (m->viewers > v->max_viewers) v->max_viewers = m->viewers;
    for (size_t i = 0; i < m->history.n; i++)
        viewer_entry(w, v, &m->history.items[i], rejoin ? E_RESUMED : E_HISTORY);
    lc_sid_t last;
    if (!v->has_last && lc_msg_has(m, last) && lc_sid_parse(&last, m->last.p, m->last.n) == 0) {
        v->last_id = last;
        v->has_last = 1;
    }
    return rejoin;
}

void wr_viewer_hint(watch_t *w, viewer_t *v, int64_t after_ms) {
    w->rs.hints++;
    if (v->pending || !v->online) return;
    disturb(w, v);
    schedule(w, vidx(w, v), after_ms > 0 ? (uint64_t)after_ms : 0);
}

void wr_viewer_gap(watch_t *w, viewer_t *v) {
    /* what follows a gap on this connection is not contiguous: resume */
    w->rs.gap_resumes++;
    if (v->pending) return;
    disturb(w, v);
    detach(w, v);
    schedule(w, vidx(w, v), backoff_ms(0, 0)); /* spread: a gap hits many at once */
}

void wr_viewer_closed(watch_t *w, viewer_t *v, lt_conn_t *c, int code) {
    wresume_t *rs = &w->rs;
    int was_online = v->online;
    if (v->online) {
        v->online = 0;
        v->off_ms = lt_now_ms(w->run);
        rs->online--;
    } else {
        w->connecting--;
    }
    int retry_after = count_close(rs, c, code);
    if (was_online && !v->pending) rs->closes++;
    if (v->pending) return; /* hinted: its reconnect is already due */
    disturb(w, v);
    if (!was_online) v->backoff++;
    schedule(w, vidx(w, v), backoff_ms(v->backoff, retry_after));
}

void wr_viewer_open_failed(watch_t *w, viewer_t *v) {
    w->rs.connect_failed++;
    schedule(w, vidx(w, v), backoff_ms(++v->backoff, 0));
}

int wr_viewer_raw(watch_t *w, viewer_t *v, const uint8_t *p, size_t n) {
    if (n > 96 || !memmem(p, n, "after_ms", 8) || !v->c) return 0;
    lc_msg_t m;
    lc_proto_err_t err;
    lc_msg_init(&m, LC_MSG_NONE);
    if (lc_msg_decode(&m, (lc_fmt_t)lt_conn_fmt(v->c), LC_DIR_S2C, p, n, &err) != 0) return 0;
    int hint = m.type == LC_MSG_RECONNECT;
    if (hint) wr_viewer_hint(w, v, m.after_ms);
    lc_msg_clear(&m);
    return hint;
}

void wr_viewer_reset(watch_t *w, viewer_t *v) {
    if (v->online) {
        v->online = 0;
        w->rs.online--;
    }
    v->has_last = 0;
    v->window = 0;
    v->backoff = 0;
}

/* ---- publishers ---- */

static void detach_pub(wroom_t *r) {
    r->pub_leaving = 0;
    if (!r->pub) return;
    lt_conn_set_user(r->pub, NULL);
    lt_conn_close(r->pub);
    r->pub = NULL;
    r->pub_ready = 0;
}

static void pub_entry(wroom_t *r, const lc_msg_t *m) {
    lc_sid_t id;
    if (!entry_id(m, &id)) return;
    bump(&r->pub_last, &r->pub_has_last, id);
    bump(&r->newest, &r->has_newest, id);
    int64_t seq;
    uint64_t sent;
    if (!pub_comment(m, &seq, &sent)) return;
    observe(r, seq, id);
    if (seq + 1 > r->pub_upto) r->pub_upto = seq + 1;
}

void wr_pub_msg(watch_t *w, int room, const lc_msg_t *m) {
    wroom_t *r = &w->rooms[room];
    switch (m->type) {
    case LC_MSG_WELCOME:
        r->pub_backoff = 0;
        if (lc_msg_has(m, recovered) && !m->recovered) w->rs.not_recovered++;
        for (size_t i = 0; i < m->history.n; i++) pub_entry(r, &m->history.items[i]);
        /* everything sent before this welcome is settled: in the history
         * (published) or not applied (unconfirmed) */
        r->pub_upto = r->seq;
        lc_sid_t last;
        if (!r->pub_has_last && lc_msg_has(m, last) && lc_sid_parse(&last, m->last.p, m->last.n) == 0) {
            r->pub_last = last;
            r->pub_has_last = 1;
        }
        break;
    case LC_MSG_COMMENT:
    case LC_MSG_ANNOUNCE:
    case LC_MSG_PRODUCT:
        pub_entry(r, m);
        break;
    case LC_MSG_RECONNECT: /* no more sends here; reconnect once it closed (see the top) */
        w->rs.pub_hints++;
        if (!r->pub_pending && !r->pub_leaving && r->pub) {
            r->pub_leaving = 1;
            r->pub_ready = 0;
            lt_conn_close(r->pub);
        }
        break;
    case LC_MSG_GAP: /* its echoes were skipped: resume them */
        w->rs.gap_resumes++;
        if (!r->pub_pending) {
            detach_pub(r);
            schedule(w, -1 - room, 0);
        }
        break;
    default:
        break;
    }
}

void wr_pub_closed(watch_t *w, int room, lt_conn_t *c, int code) {
    wroom_t *r = &w->rooms[room];
    if (r->pub_leaving) { /* the hinted connection we closed (or the shard did): go now */
        r->pub_leaving = 0;
        if (code != 1000) count_close(&w->rs, c, code); /* 1000: the shard answered our close */
        if (!r->pub_pending) schedule(w, -1 - room, 0);
        return;
    }
    int retry_after = count_close(&w->rs, c, code);
    if (r->pub_pending) return;
    if (code == 0) r->pub_backoff++;
    schedule(w, -1 - room, backoff_ms(r->pub_backoff, retry_after));
}

static void fire_pub(watch_t *w, int room) {
    wroom_t *r = &w->rooms[room];
    r->pub_pending = 0;
    detach_pub(r);
    r->pub_tries++;
    w->rs.attempts++;
    w->rs.pub_reconnects++;
    if (wp_open(w, room) == 0) return;
    w->rs.connect_failed++;
    schedule(w, -1 - room, backoff_ms(++r->pub_backoff, 0));
}

static void on_due(uv_timer_t *t) {
    watch_t *w = t->data;
    wresume_t *rs = &w->rs;
    uint64_t now = lt_now_ms(w->run);
    for (int k = 0; k < FIRE_BATCH && rs->nheap && rs->heap[0].due_ms <= now && !w->run->stopping; k++) {
        wdue_t d = heap_pop(rs);
        if (d.who >= 0)
            fire_viewer(w, &w->v[d.who]);
        else
            fire_pub(w, -1 - d.who);
    }
    arm(w);
}

/* ---- the run ---- */

int wr_init(watch_t *w) {
    wresume_t *rs = &w->rs;
    rs->capheap = w->n + w->run->rooms;
    rs->heap = calloc((size_t)rs->capheap, sizeof(*rs->heap));
    rs->events = json_array();
    if (!rs->heap || !rs->events) return -1;
    for (int i = 0; i < w->run->rooms; i++) {
        w->rooms[i].led.max_seen = -1;
        if (wr_reserve(&w->rooms[i], 0) != 0) return -1;
    }
    lt_hist_init(&rs->history_lat);
    lt_hist_init(&rs->offline);
    uv_timer_init(w->run->loop, &rs->timer);
    rs->timer.data = w;
    rs->timer_on = 1;
    return 0;
}

void wr_stop(watch_t *w) {
    if (!w->rs.timer_on) return;
    w->rs.timer_on = 0;
    uv_timer_stop(&w->rs.timer);
    uv_close((uv_handle_t *)&w->rs.timer, NULL);
}

void wr_free(watch_t *w) {
    free(w->rs.heap);
    json_decref(w->rs.events);
    for (int i = 0; w->rooms && i < w->run->rooms; i++) {
        free(w->rooms[i].led.seen);
        free(w->rooms[i].led.skips);
        free(w->rooms[i].led.ids);
    }
}

int wr_behind(watch_t *w) {
    if (w->rs.nheap || w->rs.online < w->n) return 1;
    for (int i = 0; i < w->run->rooms; i++) {
        wroom_t *r = &w->rooms[i];
        if (!r->pub_ready || r->pub_upto < r->seq) return 1;
    }
    for (int i = 0; i < w->n; i++) {
        viewer_t *v = &w->v[i];
        if (v->sampled && v->next_seq <= w->rooms[v->room].led.max_seen) return 1;
    }
    return 0;
}

void wr_progress(watch_t *w, char *line, size_t cap) {
    wresume_t *rs = &w->rs;
    snprintf(line, cap, " online=%d hints=%llu rejoins=%llu away=%d", rs->online, (unsigned long long)rs->hints,
             (unsigned long long)rs->rejoins, rs->disturbed);
}

int wr_finish(watch_t *w, json_t *res, json_t *inv) {
    lt_run_t *run = w->run;
    wresume_t *rs = &w->rs;
    uint64_t lost = 0, dups = 0, ooo = 0, gaps = 0, twice = 0, bad_likes = 0;
    int64_t sent = 0, published = 0;
    int offline = 0, pubs_away = 0, checked = 0;
    for (int i = 0; i < run->rooms; i++) {
        wroom_t *r = &w->rooms[i];
        sent += r->seq;
        published += r->led.published;
        twice += r->led.twice;
        pubs_away += !r->pub_ready;
        for (int64_t s = 0; s < r->seq && s < r->led.cap; s++)
            if (r->led.seen[s]) lost += r->led.skips[s];
        r->likes_seen = -1;
        for (int k = 0; k < w->n; k++)
            if (w->v[k].room == i && w->v[k].online && w->v[k].sampled && w->v[k].last_likes > r->likes_seen)
                r->likes_seen = w->v[k].last_likes;
    }
    for (int i = 0; i < w->n; i++) {
        viewer_t *v = &w->v[i];
        wroom_t *r = &w->rooms[v->room];
        dups += v->dups;
        ooo += v->ooo;
        gaps += v->gaps;
        if (!v->online) {
            offline++;
            continue;
        }
        if (!v->sampled) continue;
        checked++;
        for (int64_t s = v->next_seq < 0 ? 0 : v->next_seq; s < r->seq && s < r->led.cap; s++)
            lost += r->led.seen[s];
        if (v->last_likes != r->likes_seen || r->likes_seen > r->likes_sent) bad_likes++;
    }
    int64_t likes_sent = 0, likes_seen = 0;
    for (int i = 0; i < run->rooms; i++) {
        likes_sent += w->rooms[i].likes_sent;
        likes_seen += w->rooms[i].likes_seen > 0 ? w->rooms[i].likes_seen : 0;
    }
    if (rs->disturbed) { /* an outage still open at the end */
        double secs = (double)(lt_now_ms(run) - rs->event_start_ms) / 1000.0;
        if (secs > rs->max_event_s) rs->max_event_s = secs;
        json_array_append_new(rs->events, json_pack("{sfsfsisb}", "start_s",
                                                    (double)(rs->event_start_ms - run->t0_ms) / 1000.0,
                                                    "seconds", secs, "viewers", rs->event_viewers, "open", 1));
    }
    json_t *o = json_object();
    const struct {
        const char *k;
        json_int_t v;
    } nums[] = {{"hints", (json_int_t)rs->hints},
                {"publisher_hints", (json_int_t)rs->pub_hints},
                {"closes", (json_int_t)rs->closes},
                {"attempts", (json_int_t)rs->attempts},
                {"refused_503", (json_int_t)rs->refused_503},
                {"retry_after_waits", (json_int_t)rs->retry_after_waits},
                {"refused_other", (json_int_t)rs->refused_other},
                {"connect_failed", (json_int_t)rs->connect_failed},
                {"rejoins", (json_int_t)rs->rejoins},
                {"rejoined_viewers", rs->rejoined_viewers},
                {"publisher_reconnects", (json_int_t)rs->pub_reconnects},
                {"recovered_false", (json_int_t)rs->not_recovered},
                {"gap_resumes", (json_int_t)rs->gap_resumes},
                {"unexpected_closes", (json_int_t)rs->unexpected},
                {"peak_rejoins_per_s", rs->peak_rate},
                {"away_at_end", offline},
                {"publishers_away_at_end", pubs_away},
                {"lost", (json_int_t)lost},
                {"duplicated", (json_int_t)dups},
                {"out_of_order", (json_int_t)ooo},
                {"stream_duplicates", (json_int_t)twice},
                {"comments_published", published},
                {"comments_unconfirmed", sent - published},
                {"comments_via_history", (json_int_t)rs->history_comments},
                {"deferred_by_tool", (json_int_t)rs->deferred},
                {"likes_seen", likes_seen}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        json_object_set_new(o, nums[i].k, json_integer(nums[i].v));
    json_object_set_new(o, "rejoin_seconds_max", json_real(rs->max_event_s));
    json_object_set_new(o, "outages", json_incref(rs->events));
    lt_hist_json(o, "history_latency_us", &rs->history_lat);
    lt_hist_json(o, "offline_us", &rs->offline);
    json_object_set_new(res, "resume", o);
    json_object_set_new(res, "comments_published", json_integer((json_int_t)published));
    json_object_set_new(res, "missing", json_integer((json_int_t)lost));
    json_object_set_new(res, "duplicates", json_integer((json_int_t)(dups + ooo)));
    fprintf(stderr,
            "  resume: %llu hints (+%llu to publishers), %llu closes without one, %llu reconnect attempts "
            "(%llu HTTP 503, %llu other refusals, %llu failed to connect)\n"
            "  rejoined: %llu welcomes by %d viewers, peak %u/s; all back %.2f s after the first hint or "
            "close (max over %zu outages); %llu recovered:false, %llu gap resumes, %d away at the end\n"
            "  offline per rejoin (old connection gone to new welcome): p50 %.0f ms p99 %.0f ms max %.0f ms\n"
            "  comments: %lld sent, %lld published (%lld unconfirmed), %llu through resume histories "
            "(latency p50 %.1f ms max %.1f ms); %llu lost, %llu duplicated, %llu out of order\n",
            (unsigned long long)rs->hints, (unsigned long long)rs->pub_hints, (unsigned long long)rs->closes,
            (unsigned long long)rs->attempts, (unsigned long long)rs->refused_503,
            (unsigned long long)rs->refused_other, (unsigned long long)rs->connect_failed,
            (unsigned long long)rs->rejoins, rs->rejoined_viewers, rs->peak_rate, rs->max_event_s,
            json_array_size(rs->events), (unsigned long long)rs->not_recovered,
            (unsigned long long)rs->gap_resumes, offline, lt_hist_percentile(&rs->offline, 50) / 1000.0,
            lt_hist_percentile(&rs->offline, 99) / 1000.0, rs->offline.max / 1000.0, (long long)sent, (long long)published,
            (long long)(sent - published), (unsigned long long)rs->history_comments,
            lt_hist_percentile(&rs->history_lat, 50) / 1000.0, rs->history_lat.max / 1000.0,
            (unsigned long long)lost, (unsigned long long)dups, (unsigned long long)ooo);
    int failed = 0;
    failed += lt_check(run, inv, "every_comment_once_in_order",
                       lost == 0 && dups == 0 && ooo == 0 && twice == 0 && (gaps == 0 || !run->strict),
                       "%llu lost, %llu duplicated, %llu out of order, %llu twice in the stream, %llu gap "
                       "notices over %d viewers, across %llu rejoins",
                       (unsigned long long)lost, (unsigned long long)dups, (unsigned long long)ooo,
                       (unsigned long long)twice, (unsigned long long)gaps, checked,
                       (unsigned long long)rs->rejoins);
    failed += lt_check(run, inv, "every_viewer_back", offline == 0 && pubs_away == 0,
                       "%d viewers and %d publishers not joined at the end", offline, pubs_away);
    failed += lt_check(run, inv, "likes_total_consistent", bad_likes == 0,
                       "%llu viewers off their room's total (%lld seen of %lld sent)",
                       (unsigned long long)bad_likes, (long long)likes_seen, (long long)likes_sent);
    failed += lt_check(run, inv, "no_unexpected_close", rs->unexpected == 0,
                       "%llu closes other than 1001/1006", (unsigned long long)rs->unexpected);
    return failed;
}
