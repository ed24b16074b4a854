/*
 * --procs N: one run spread over N processes, so that the crowd is read by
 * N cores and each process has its own open-file limit. The parent forks
 * the children before any loop or connection exists; child k takes its
 * share of the connections (global indices conn_base .. conn_base+conns-1:
 * the same names, rooms, formats, sampling and targets as one process would
 * give them), 1/N of the like and churn rates, and only child 0 publishes
 * and reads --server-pid.
 *
 * The parent talks to each child over two pipes, one JSON object per line:
 *   child -> parent  {"ready":true}      its viewers are joined (watch, churn)
 *   parent -> child  {"go":true}         every child is ready: publish now
 *   child -> parent  {"done":{"comments":[..],"likes":[..]}}   per room, sent by it
 *   parent -> child  {"totals":{...}}    the sums: every child checks its own
 *                                        viewers against the room's totals
 *   child -> parent  {"report":{...}}    its report, then it exits
 * The parent merges the reports (merge.c), prints the summary and writes
 * --json. A child that dies counts as ready and done (the others do not
 * wait for it) and makes the run fail. Everything is bounded: the parent
 * stops children still running at --duration + 180 s (SIGTERM, then
 * SIGKILL), by their pids.
 */
#ifndef LT_PROCS_H
#define LT_PROCS_H

#include "lt.h"

/* In the parent, before the loop exists: forks run->procs children. Returns
 * 1 in a child (run is now its share; go on and run the scenario), 0 in the
 * parent once the whole run is over (*status: the exit status), -1 when no
 * child could be started. */
int lt_procs_fork(lt_run_t *run, int *status);

/* In a child, once the loop exists: the parent's messages go to the
 * scenario's on_parent. Returns 0 or -1. */
int lt_procs_child_start(lt_run_t *run);

/* In a child: sends msg (stolen) to the parent. Returns 0, or -1 (not a
 * child, or the parent is gone). */
int lt_procs_send(lt_run_t *run, json_t *msg);

/* In a child, at the end: sends the report (borrowed) and closes the
 * parent's pipe handle. Returns 0 or -1. */
int lt_procs_report(lt_run_t *run, json_t *report);

#endif
