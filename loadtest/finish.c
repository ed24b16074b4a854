/*
 * The end of a run, common to every scenario: the report's params, the
 * server's and the tool's CPU and memory, the client's counters, the
 * invariants' verdict; the report goes to --json, or to the parent of a
 * --procs run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lt.h"
#include "procs.h"

/* CPU ticks (utime + stime) and RSS (KiB) of a process, from /proc. */
int lt__proc_stats(int pid, uint64_t *ticks, long *rss_kb) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    *ticks = ut + st;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    *rss_kb = 0;
    if ((f = fopen(path, "r"))) {
        while (fgets(buf, sizeof(buf), f))
            if (sscanf(buf, "VmRSS: %ld", rss_kb) == 1) break;
        fclose(f);
    }
    return 0;
}

/* Jiffies of every CPU from /proc/stat: [0] busy (user, nice, system, irq,
 * softirq), [1] steal (taken by the hypervisor), [2] all. Returns how many
 * CPUs, 0 when unreadable. On a VM the steal column says how much of a
 * "pinned core" the tool or the server really had. */
static int cpu_jiffies(uint64_t (*out)[3], int max) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        unsigned long long v[10] = {0};
        int cpu;
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
        if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) < 9 || cpu != n)
            break;
        out[n][0] = v[0] + v[1] + v[2] + v[5] + v[6];
        out[n][1] = v[7];
        out[n][2] = out[n][0] + v[3] + v[4] + v[7];
        n++;
    }
    fclose(f);
    return n;
}

/* host.cpus: each CPU's busy, steal and idle share over the measured part. */
static json_t *host_json(const lt_run_t *run) {
    uint64_t now[LT_MAX_CPUS][3];
    int n = cpu_jiffies(now, LT_MAX_CPUS);
    if (n == 0 || n != run->ncpu0) return NULL;
    json_t *cpus = json_array();
    for (int i = 0; i < n; i++) {
        double busy = (double)(now[i][0] - run->cpu0[i][0]), steal = (double)(now[i][1] - run->cpu0[i][1]);
        double all = (double)(now[i][2] - run->cpu0[i][2]);
        if (all <= 0) all = 1;
        json_array_append_new(cpus, json_pack("{sisfsfsf}", "cpu", i, "busy_pct", 100 * busy / all, "steal_pct",
                                              100 * steal / all, "idle_pct", 100 * (all - busy - steal) / all));
    }
    return json_pack("{so}", "cpus", cpus);
}

static void on_closed_handle(uv_handle_t *h) { (void)h; }

/* The parameters only some scenarios have, into the report's params. */
static void scenario_params(const lt_run_t *run, json_t *params) {
    if (run->pay_s) {
        json_object_set_new(params, "pay_s", json_integer(run->pay_s));
        json_object_set_new(params, "pay_ratio", json_real(run->pay_ratio));
        json_object_set_new(params, "api_key", json_boolean(run->api_key != NULL));
    }
    if (run->sc == &lt_scenario_coupon) {
        json_object_set_new(params, "quota", json_integer((json_int_t)run->quota));
        json_object_set_new(params, "per_user", json_integer((json_int_t)run->per_user));
        json_object_set_new(params, "window_s", json_integer(run->window));
        json_object_set_new(params, "retry", json_boolean(run->retry));
    }
    if (run->sc == &lt_scenario_lottery) {
        json_object_set_new(params, "winners", json_integer(run->winners));
        json_object_set_new(params, "secs", json_integer(run->lottery_secs));
        json_object_set_new(params, "keyword", run->keyword[0] ? json_string(run->keyword) : json_null());
        json_object_set_new(params, "twice", json_real(run->twice));
        json_object_set_new(params, "spread_s", json_real(run->spread));
        json_object_set_new(params, "api_key", json_boolean(run->api_key != NULL));
    }
}

/* The tool's own CPU seconds so far (user + system), or -1. */
static double self_cpu(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

void lt_server_baseline(lt_run_t *run) {
    long rss;
    if (run->server_pid > 0) lt__proc_stats(run->server_pid, &run->server_cpu0, &rss);
    run->started_ms = lt_now_ms(run);
    run->tool_cpu0 = self_cpu();
    run->ncpu0 = cpu_jiffies(run->cpu0, LT_MAX_CPUS);
}

json_t *lt_run_params(const lt_run_t *run) {
    json_t *params = json_pack("{sssisisfsisisisIsIsIsfsfsfsi}", "scenario", run->sc->name, "conns", run->conns,
                               "rooms", run->rooms, "duration_s", run->duration, "targets",
                               run->ntargets, "inflight", run->inflight, "taps", run->taps, "stock",
                               (json_int_t)run->stock, "limit", (json_int_t)run->limit, "qty",
                               (json_int_t)run->qty, "rate", run->rate, "like_rate", run->like_rate,
                               "churn", run->churn, "size", run->size);
    if (run->resume) json_object_set_new(params, "resume", json_true());
    scenario_params(run, params);
    json_object_set_new(params, "format",
                        json_string(run->fmt < 0 ? "mixed" : run->fmt ? "msgpack" : "json"));
    json_object_set_new(params, "sample", json_integer(run->sample));
    json_object_set_new(params, "reader", json_string(run->lean ? "lean" : "lws"));
    if (run->procs > 1) json_object_set_new(params, "procs", json_integer(run->procs));
    return params;
}

void lt_finish(lt_run_t *run) {
    if (run->stopping) return;
    run->stopping = 1;
    run->ended_ms = lt_now_ms(run);
    uv_timer_stop(&run->progress);
    uv_timer_stop(&run->stop);
    json_t *report = json_object();
    json_t *params = lt_run_params(run);
    if (run->procs > 1) {
        json_object_set_new(params, "proc", json_integer(run->proc));
        json_object_set_new(params, "conn_base", json_integer(run->conn_base));
    }
    json_object_set_new(report, "params", params);
    json_object_set_new(report, "timeline", run->timeline);
    int failed = run->sc->finish(run, report);
    if (run->server_pid > 0) {
        uint64_t ticks;
        long rss;
        if (lt__proc_stats(run->server_pid, &ticks, &rss) == 0) {
            double secs = (double)(run->ended_ms - run->started_ms) / 1000.0;
            double cpu = (double)(ticks - run->server_cpu0) / (double)sysconf(_SC_CLK_TCK);
            long open = (long)lt_client_stats(run->cl)->open;
            double per = open > 0 ? (double)(rss - run->server_rss0) * 1024.0 / (double)open : 0;
            json_object_set_new(report, "server",
                                json_pack("{sfsfsIsIsIsf}", "cpu_s", cpu, "cpu_pct",
                                          secs > 0 ? 100.0 * cpu / secs : 0.0, "rss_kb", (json_int_t)rss,
                                          "rss_start_kb", (json_int_t)run->server_rss0, "connections",
                                          (json_int_t)open, "rss_bytes_per_connection", per));
            fprintf(stderr, "server: %.2f s CPU (%.0f%% of one core), RSS %ld KiB (from %ld: %.0f bytes "
                            "per open connection)\n",
                    cpu, secs > 0 ? 100.0 * cpu / secs : 0.0, rss, run->server_rss0, per);
        }
    }
    json_t *host = host_json(run);
    if (host) {
        json_object_set_new(report, "host", host);
        size_t i;
        json_t *c;
        fprintf(stderr, "host:");
        json_array_foreach(json_object_get(host, "cpus"), i, c)
            fprintf(stderr, " cpu%zu %.0f%% busy %.0f%% steal", i, json_real_value(json_object_get(c, "busy_pct")),
                    json_real_value(json_object_get(c, "steal_pct")));
        fprintf(stderr, " (while measured)\n");
    }
    const lt_client_stats_t *st = lt_client_stats(run->cl);
    json_t *closes = json_object();
    for (int code = 0; code < 5000; code++) {
        if (!run->closes[code]) continue;
        char k[8];
        snprintf(k, sizeof(k), "%d", code);
        json_object_set_new(closes, k, json_integer((json_int_t)run->closes[code]));
    }
    json_object_set_new(report, "client",
                        json_pack("{sIsIsIsIsIsIso}", "opened", (json_int_t)st->opened, "failed",
                                  (json_int_t)st->failed, "frames_in", (json_int_t)st->frames_in,
                                  "frames_out", (json_int_t)st->frames_out, "bytes_in",
                                  (json_int_t)st->bytes_in, "decode_errors",
                                  (json_int_t)st->decode_errors, "closes", closes));
    json_object_set_new(json_object_get(report, "client"), "open", json_integer((json_int_t)st->open));
    json_object_set_new(json_object_get(report, "client"), "lean_opened", json_integer((json_int_t)st->lean_opened));
    json_object_set_new(json_object_get(report, "client"), "framing_errors",
                        json_integer((json_int_t)st->framing_errors));
    json_object_set_new(json_object_get(report, "client"), "errors",
                        run->errors ? json_incref(run->errors) : json_object());
    double tool = self_cpu();
    if (tool >= 0) {
        double wall = (double)(lt_now_ms(run) - run->t0_ms) / 1000.0;
        /* measured: from the baseline (all joined, publishing starts) to the end */
        double mwall = (double)(run->ended_ms - run->started_ms) / 1000.0;
        double mcpu = run->tool_cpu0 >= 0 ? tool - run->tool_cpu0 : 0;
        json_object_set_new(report, "tool", json_pack("{sfsfsfsf}", "cpu_s", tool, "cpu_pct",
                                                       wall > 0 ? 100.0 * tool / wall : 0.0, "measured_cpu_s",
                                                       mcpu, "measured_cpu_pct", mwall > 0 ? 100.0 * mcpu / mwall : 0.0));
        fprintf(stderr, "load tool: %.2f s CPU (%.0f%% of one core over the whole run, %.0f%% while measured)\n",
                tool, wall > 0 ? 100.0 * tool / wall : 0.0, mwall > 0 ? 100.0 * mcpu / mwall : 0.0);
    }
    fprintf(stderr, "invariants:\n%s%s\n", run->invariant_log, failed ? "FAILED" : "all invariants hold");
    json_object_set_new(report, "ok", json_boolean(!failed));
    if (run->link) {
        if (lt_procs_report(run, report) != 0) fprintf(stderr, "[p%d] cannot send the report\n", run->proc);
    } else if (run->json_path && json_dump_file(report, run->json_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        fprintf(stderr, "cannot write %s\n", run->json_path);
    }
    json_decref(report);
    json_decref(run->errors);
    run->errors = NULL;
    run->failed = failed;
    lt_client_stop(run->cl);
    uv_close((uv_handle_t *)&run->progress, on_closed_handle);
    uv_close((uv_handle_t *)&run->stop, on_closed_handle);
}

