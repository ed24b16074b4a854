/*
 * The viewer scenarios' publishers and senders (scen_watch.c): one
 * streamer connection per room sends the comments the pacer owes, and like
 * frames are spread over the room's viewers, as a crowd sends them.
 */
#include <stdio.h>
#include <string.h>

#include "watch.h"

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
    else if (m->type == LC_MSG_GAP) /* it reads the room too: lapped by the ring, closed after --max-gaps */
        fprintf(stderr, "publisher of %s: gap (it fell a ring behind its room)\n", r->name);
}

static void pub_close(lt_conn_t *c, int code, const char *err) {
    wroom_t *r = lt_conn_user(c);
    if (!r) return;
    r->pub = NULL;
    r->pub_ready = 0;
    if (r->w->run->stopping) return;
    if (r->w->run->resume) {
        wr_pub_closed(r->w, (int)(r - r->w->rooms), c, code);
        return;
    }
    /* without --resume the room's comments stop here: say so, and the
     * report counts it (no_unexpected_close) */
    r->w->pub_closes++;
    fprintf(stderr, "publisher of %s closed (%d%s%s)\n", r->name, code, err ? ": " : "", err ? err : "");
}

static const lt_conn_ops_t pub_ops = {pub_open, pub_msg, NULL, pub_close, NULL};

int wp_open(watch_t *w, int i) {
    lt_run_t *run = w->run;
    wroom_t *r = &w->rooms[i];
    const lt_target_t *pt = run->raw ? &run->pub_target : lt_pick_target(run, (unsigned)i + r->pub_tries);
    r->pub = lt_conn_open(run->cl, pt, r->name, run->raw ? LT_FMT_RAW : LC_FMT_JSON, NULL, &pub_ops, r);
    return r->pub ? 0 : -1;
}

void w_send_comment(watch_t *w, wroom_t *r) {
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

void w_send_like(watch_t *w, wroom_t *r, int room) {
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

