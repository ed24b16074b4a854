/*
 * lt_merge: one report out of several, in the format of a single run's
 * (main.c's lt_finish). Used for the children of a --procs run and by
 * `livecart-load merge A.json B.json ...` for runs made on several client
 * machines at the same time.
 *
 * The rules, by what a value means rather than by scenario:
 *   - a latency summary (lt_hist_json: an object with "p99") is merged
 *     exactly from its buckets and summarised again; one without buckets
 *     (a report of an older tool) makes the merge fail;
 *   - counters and rates are summed (the runs ran side by side), except
 *     the few that are extremes (max_keys in merge.c: storm_seconds, ...);
 *   - an invariant holds when it held in every report (its detail says in
 *     how many, and quotes the first that failed); "ok" likewise;
 *   - params are the first report's, with conns summed and "merged" = N;
 *   - timeline points are summed by index (msgs, open); their per-second
 *     p50/p99 become the largest of the reports' (an upper bound: the
 *     per-second histograms are not kept);
 *   - server is the first report's that has one (only one client process
 *     or machine should pass --server-pid), every one of them in "servers";
 *     host (the client machine's CPUs) likewise, all of them in "hosts";
 *   - strings are the first report's, arrays are concatenated.
 */
#ifndef LT_MERGE_H
#define LT_MERGE_H

#include <jansson.h>
#include <stdio.h>

#include "hist.h"

/* Reads a histogram back from a summary lt_hist_json wrote. Returns 0, or -1
 * when o has no buckets (a report from before they were written). */
int lt_hist_from_json(lt_hist_t *h, const json_t *o);

/* Merges n >= 1 reports (borrowed). Returns a new report owned by the
 * caller, or NULL with a reason in err. */
json_t *lt_merge_reports(json_t *const *reps, size_t n, char *err, size_t errcap);

/* Prints a merged report's summary: the result's main figures, client and
 * tool totals, the invariants. */
void lt_merge_summary(FILE *f, const json_t *report);

/* livecart-load merge [--json OUT] A.json B.json ...: argv[0] is "merge".
 * Returns the exit status: 0 when every merged invariant holds. */
int lt_merge_main(int argc, char **argv);

#endif
