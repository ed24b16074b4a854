/*
 * The viewer scenarios' end (scen_watch.c): the progress line, the report
 * and its invariants. In a --procs run each process checks its own viewers
 * against the room totals every process reported (procs.c relays them), so
 * the merged report's invariants hold when each process's did.
 */
#include <stdio.h>
#include <string.h>

#include "watch.h"

static int mode_is(const watch_t *w, const char *m) { return strcmp(w->mode, m) == 0; }

void w_progress(lt_run_t *run, char *line, size_t cap) {
    watch_t *w = run->sc_state;
    uint64_t missing = 0;
    for (int i = 0; i < w->n; i++) missing += w->v[i].missing;
    int n = snprintf(line, cap, " welcomed=%d connecting=%d missing=%llu%s", w->welcomed, w->connecting,
                     (unsigned long long)missing, w->publishing ? " publishing" : "");
    if (run->resume && n > 0 && (size_t)n < cap) wr_progress(w, line + n, cap - (size_t)n);
}

int w_finish(lt_run_t *run, json_t *report) {
    watch_t *w = run->sc_state;
    uv_timer_stop(&w->opener);
    uv_timer_stop(&w->pacer);
    uv_timer_stop(&w->phase);
    uv_close((uv_handle_t *)&w->opener, NULL);
    uv_close((uv_handle_t *)&w->pacer, NULL);
    uv_close((uv_handle_t *)&w->phase, NULL);
    if (run->resume) wr_stop(w);

    uint64_t missing = 0, dups = 0, gaps = 0, tail_missing = 0, bad_likes = 0, bad_viewers = 0;
    int64_t sent = 0, likes = 0, likes_all = 0;
    for (int i = 0; i < run->rooms; i++) {
        sent += w->rooms[i].seq;
        likes += w->rooms[i].likes_sent;
        likes_all += run->procs > 1 ? w->rooms[i].likes_total : w->rooms[i].likes_sent;
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
        /* --procs: the room's totals over every process (the parent relayed them) */
        int64_t rseq = run->procs > 1 ? r->seq_total : r->seq;
        int64_t rlikes = run->procs > 1 ? r->likes_total : r->likes_sent;
        if (rseq > 0 && v->next_seq != rseq) tail_missing += (uint64_t)(rseq - (v->next_seq < 0 ? 0 : v->next_seq));
        if (run->raw) continue; /* raw peers have no likes or counts */
        if (v->last_likes != rlikes) bad_likes++;
        /* the room's count includes its publisher (in the first process of --procs) */
        int pub = run->procs > 1 ? mode_is(w, "watch") || mode_is(w, "churn") : r->pub != NULL;
        int expect = r->members_total + pub;
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
    /* the same rate without what arrived before publishing (welcomes, and
     * a raw peer's flood while the crowd was joining) */
    json_object_set_new(res, "delivered_since_publish_per_s",
                        json_real(secs > 0 ? (double)(w->delivered - w->delivered0) / secs : 0));
    json_object_set_new(res, "publisher_closes", json_integer((json_int_t)w->pub_closes));
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
                           (unsigned long long)bad_likes, (long long)likes_all);
        failed += lt_check(run, inv, "no_unexpected_close", w->unexpected_close == 0 && w->pub_closes == 0,
                           "%llu viewers and %llu publishers closed", (unsigned long long)w->unexpected_close,
                           (unsigned long long)w->pub_closes);
        if (run->procs > 1)
            failed += lt_check(run, inv, "room_totals_relayed", w->totals, "%s",
                               w->totals ? "every process's comments and likes summed" : "the parent's totals never came");
    }
    if (!mode_is(w, "churn") && !run->raw)
        failed += lt_check(run, inv, "viewer_count_reached", bad_viewers == 0,
                           "%llu viewers never saw their room's full count", (unsigned long long)bad_viewers);
    const lt_client_stats_t *st = lt_client_stats(run->cl);
    if (st->lean_opened)
        failed += lt_check(run, inv, "lean_frames_well_formed", st->framing_errors == 0,
                           "%llu framing errors over %llu lean connections", (unsigned long long)st->framing_errors,
                           (unsigned long long)st->lean_opened);
    json_object_set_new(report, "invariants", inv);
    for (int i = 0; i < w->n; i++)
        if (w->v[i].c) lt_conn_close(w->v[i].c);
    for (int i = 0; i < run->rooms; i++)
        if (w->rooms[i].pub) lt_conn_close(w->rooms[i].pub);
    return failed;
}

