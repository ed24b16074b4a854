/*
 * livecart-load: simulates crowds against livecart shards, on one libuv
 * loop with libwebsockets client connections and the proto/ codec. Every
 * scenario is bounded in connections and time and stops by itself, prints a
 * progress line each second, a summary at the end, optionally a JSON report,
 * and exits non-zero when one of its invariants failed.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lt.h"
#include "merge.h"
#include "procs.h"

static const lt_scenario_t *const scenarios[] = {&lt_scenario_watch, &lt_scenario_sale,  &lt_scenario_coupon,
                                                 &lt_scenario_lottery, &lt_scenario_storm, &lt_scenario_churn,
                                                 &lt_scenario_idle};

static void usage(FILE *f) {
    fprintf(f,
            "usage: livecart-load SCENARIO [options]\n"
            "       livecart-load merge [--json OUT] A.json B.json ...   one report out of runs made\n"
            "                       side by side (several client machines): counters and rates summed,\n"
            "                       latency histograms merged exactly, invariants held in every report\n\n"
            "scenarios:\n");
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        fprintf(f, "  %-8s %s\n", scenarios[i]->name, scenarios[i]->help);
    fprintf(f,
            "\noptions:\n"
            "  --url ws://HOST:PORT/live  a shard (repeat to spread over shards; default 127.0.0.1:8080)\n"
            "  --shards URL,URL,... the same as one --url per shard\n"
            "  --src-addrs N        source addresses 127.0.0.1 .. 127.0.0.N (more than 64k connections)\n"
            "  --format json|msgpack|mixed   (default mixed: every other connection)\n"
            "  --room NAME          room (prefix when --rooms > 1; default: a fresh name)\n"
            "  --rooms N            rooms to spread over (default 1)\n"
            "  --conns N            viewers / buyers (default 100)\n"
            "  --duration S         seconds of load (default 10; scenarios that end by\n"
            "                       themselves stop at the latest after this)\n"
            "  --ramp N             connections opened per second (default: as fast as possible)\n"
            "  --rate N             watch/churn: comments per second per room (default 10)\n"
            "  --like-rate N        watch/churn: like frames per second per room (default 5)\n"
            "  --size N             watch/churn: comment size in bytes, up to 500 (default: minimal)\n"
            "  --churn N            churn: viewers replaced per second (default 10)\n"
            "  --strict             watch/churn: a gap notice fails the run too\n"
            "  --resume             watch/churn: survive shard restarts. Viewers reconnect after\n"
            "                       a reconnect hint's after_ms; publishers stop sending at the\n"
            "                       hint, close once their queued frames are written and then\n"
            "                       reconnect at once. After a close or refused upgrade without a\n"
            "                       hint: backoff (100 ms doubling to 2 s, full jitter, plus\n"
            "                       Retry-After). Each attempt goes to the next --url, with\n"
            "                       hello.since = the last stream id seen. Every viewer must get\n"
            "                       every published comment of its room once and in order across\n"
            "                       its reconnects; published = seen by anyone (a send the\n"
            "                       connection died before echoing may be lost: it is reported as\n"
            "                       unconfirmed, never resent). Fails on lost, duplicated or\n"
            "                       out-of-order comments and on viewers not back at the end\n"
            "  --sample N           decode and check every Nth viewer, count the rest (default 1)\n"
            "  --reader lean|lws    how the counted viewers read (default lean: its own handshake and\n"
            "                       frame walker on libuv, no per-frame callbacks; lws: libwebsockets\n"
            "                       like the sampled ones)\n"
            "  --deflate            counted viewers (lean reader) negotiate permessage-deflate and\n"
            "                       count the compressed frames without inflating them (not with --resume)\n"
            "  --procs N            watch/churn/storm/idle: spread the connections over N processes\n"
            "                       (one core and one open-file limit each); the first one publishes\n"
            "                       and reads --server-pid; one merged report\n"
            "  --proto raw --pub-url URL   a plain-text WebSocket peer (nchan, ws): viewers on\n"
            "                       --url (use {room} in its path), the publisher on --pub-url\n"
            "  --stock N --limit N --qty N --inflight N   sale: stock, per-user limit, units per\n"
            "                       buy, buys kept in flight per buyer (0: one buy and its retry)\n"
            "  --taps N             sale --inflight K: each buyer sends N buys (new req each) and\n"
            "                       the run ends when all are answered (instead of --duration)\n"
            "  --pay-s S            sale: sell by reservation, to be paid within S s (30-3600): the\n"
            "                       run waits until every reservation is paid or expired\n"
            "  --pay-ratio P        sale --pay-s: the share of reservations the shop pays (0-1,\n"
            "                       default 0.5), through POST /api/rooms/R/orders/O/paid with the\n"
            "                       API key, else the open-mode demo shop /demo/rooms/R/orders/O/pay\n"
            "  --api-key-file FILE  the shop's API key (default: $LIVECART_API_KEY); with a key the\n"
            "                       end also checks each room's stock through GET /api/rooms/R (lottery:\n"
            "                       the drawn lottery through GET /api/rooms/R/lotteries/ID)\n"
            "  --quota Q --per-user K --window S   coupon: coupons dropped (default 100), most one\n"
            "                       user may hold (default 1), claim window in s (default 60)\n"
            "  --retry              coupon: every 10th claimer drops its connection right after its\n"
            "                       first claim, reconnects to the next shard and claims again with\n"
            "                       the same req: the answer must be the first decision\n"
            "  --winners K --secs S lottery: winners to draw (1-1000, default 10), the lottery's\n"
            "                       length in s (10-3600, default 20)\n"
            "  --keyword W          lottery: viewers enter by commenting W (default: lottery_enter)\n"
            "  --twice F            lottery: the share of entrants that enter again (0-1, default\n"
            "                       0.2): on the same path, on the other one, or from a second\n"
            "                       connection of the same user on another shard\n"
            "  --spread S           lottery: entries spread over S s after the open (default 0)\n"
            "  --json FILE          write the report as JSON\n"
            "  --server-pid PID     report the server's CPU time and RSS\n");
}

uint64_t lt_now_ms(lt_run_t *run) { return uv_now(run->loop); }

uint64_t lt_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const lt_target_t *lt_pick_target(lt_run_t *run, unsigned i) { return &run->targets[i % run->ntargets]; }

const char *lt_pick_src(lt_run_t *run, unsigned i) {
    return run->nsrcs ? run->srcs[(i / run->ntargets) % run->nsrcs] : NULL;
}

int lt_pick_fmt(lt_run_t *run, unsigned i) {
    if (run->raw) return LT_FMT_RAW;
    return run->fmt >= 0 ? run->fmt : (int)(i % 2);
}

static void on_progress(uv_timer_t *t) {
    lt_run_t *run = t->data;
    const lt_client_stats_t *st = lt_client_stats(run->cl);
    char line[512];
    uint64_t now = lt_now_ms(run);
    uint64_t msgs = run->msgs - run->msgs_prev;
    run->msgs_prev = run->msgs;
    char who[16] = "";
    if (run->procs > 1) snprintf(who, sizeof(who), "[p%d] ", run->proc);
    int n = snprintf(line, sizeof(line), "%st=%4.1fs open=%llu failed=%llu msgs/s=%llu p99=%.1fms",
                     who, (double)(now - run->t0_ms) / 1000.0, (unsigned long long)st->open,
                     (unsigned long long)st->failed, (unsigned long long)msgs,
                     (double)lt_hist_percentile(&run->lat_sec, 99) / 1000.0);
    if (run->sc->progress) run->sc->progress(run, line + n, sizeof(line) - (size_t)n);
    fprintf(stderr, "%s\n", line);
    json_array_append_new(run->timeline,
                          json_pack("{sfsIsIsIsI}", "t", (double)(now - run->t0_ms) / 1000.0, "msgs",
                                    (json_int_t)msgs, "p50_us",
                                    (json_int_t)lt_hist_percentile(&run->lat_sec, 50), "p99_us",
                                    (json_int_t)lt_hist_percentile(&run->lat_sec, 99), "open",
                                    (json_int_t)st->open));
    lt_hist_init(&run->lat_sec);
}

static void on_hard_stop(uv_timer_t *t) {
    lt_run_t *run = t->data;
    fprintf(stderr, "time is up\n");
    lt_finish(run);
}

/* Raises the open-file limit to the hard limit; says when that is too low. */
static void raise_nofile(int want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("setrlimit(RLIMIT_NOFILE)");
    if ((long)rl.rlim_cur < want + 64)
        fprintf(stderr, "warning: open-file limit %ld is below the %d connections asked for; "
                        "raise it (ulimit -n) or expect failed connections\n",
                (long)rl.rlim_cur, want);
}

static int add_target(lt_run_t *run, const char *url) {
    if (run->ntargets == LT_MAX_TARGETS || lt_target_parse(&run->targets[run->ntargets], url)) {
        fprintf(stderr, "bad --url %s (at most %d)\n", url, LT_MAX_TARGETS);
        return -1;
    }
    run->ntargets++;
    return 0;
}

/* --shards URL,URL,...: one target each. */
static int add_shards(lt_run_t *run, const char *list) {
    char buf[2048];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save))
        if (add_target(run, u) != 0) return -1;
    return 0;
}

/* The API key: the file's content minus one trailing newline, as the
 * server reads it, else $LIVECART_API_KEY. Returns 0 or -1. */
static int load_api_key(lt_run_t *run, const char *path) {
    if (!path) {
        const char *env = getenv("LIVECART_API_KEY");
        if (env && *env && !(run->api_key = strdup(env))) return -1;
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "cannot read --api-key-file %s\n", path), -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) return fprintf(stderr, "cannot read --api-key-file %s\n", path), -1;
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n') buf[--n] = '\0';
    if (!n || strpbrk(buf, "\r\n")) return fprintf(stderr, "--api-key-file %s: not one line\n", path), -1;
    run->api_key = strdup(buf);
    return run->api_key ? 0 : -1;
}

/* The checkout and coupon options, checked against the scenario. */
static int check_commerce_opts(lt_run_t *run, const char *keyfile) {
    if (run->pay_s && (run->sc != &lt_scenario_sale || run->pay_s < 30 || run->pay_s > 3600))
        return fprintf(stderr, "--pay-s is for the sale scenario, 30..3600\n"), -1;
    if (run->pay_ratio < 0 || run->pay_ratio > 1) return fprintf(stderr, "--pay-ratio 0..1\n"), -1;
    if (run->quota < 1 || run->quota > 1000000 || run->per_user < 1 || run->per_user > 100 || run->window < 5 ||
        run->window > 3600)
        return fprintf(stderr, "--quota 1..1000000, --per-user 1..100, --window 5..3600\n"), -1;
    return load_api_key(run, keyfile);
}

/* The lottery's options (PROTOCOL.md, "Lucky bag": the server's limits). */
static int check_lottery_opts(const lt_run_t *run) {
    size_t kl = strlen(run->keyword);
    if (run->winners < 1 || run->winners > 1000 || run->lottery_secs < 10 || run->lottery_secs > 3600)
        return fprintf(stderr, "--winners 1..1000, --secs 10..3600\n"), -1;
    if (kl > 50 || (kl && !lc_utf8_valid(run->keyword, kl)))
        return fprintf(stderr, "--keyword: 1-50 bytes of UTF-8\n"), -1;
    if (run->twice < 0 || run->twice > 1 || run->spread < 0 || run->spread > run->lottery_secs / 2.0)
        return fprintf(stderr, "--twice 0..1, --spread 0..secs/2\n"), -1;
    return 0;
}

/* The defaults every scenario starts from. */
static void set_defaults(lt_run_t *run) {
    run->fmt = -1;
    run->rooms = 1;
    run->conns = 100;
    run->duration = 10;
    run->stock = 100;
    run->limit = 1;
    run->qty = 1;
    run->rate = 10;
    run->like_rate = 5;
    run->churn = 10;
    run->pay_ratio = 0.5;
    run->quota = 100;
    run->per_user = 1;
    run->window = 60;
    run->winners = 10;
    run->lottery_secs = 20;
    run->twice = 0.2;
    run->lean = 1;
    run->procs = 1;
    snprintf(run->room, sizeof(run->room), "load-%d-%ld", (int)getpid(), (long)time(NULL) % 100000);
}

/* The long options' codes (getopt_long). */
enum { O_URL = 256, O_SRC, O_FMT, O_ROOM, O_ROOMS, O_CONNS, O_DUR, O_RAMP, O_STOCK, O_LIMIT,
       O_QTY, O_INFL, O_JSON, O_PID, O_RATE, O_LRATE, O_SIZE, O_CHURN, O_STRICT, O_SAMPLE,
       O_PROTO, O_PUB, O_RESUME, O_SHARDS, O_PAY_S, O_PAY_RATIO, O_KEYFILE, O_QUOTA, O_PER_USER,
       O_WINDOW, O_RETRY, O_KEYWORD, O_WINNERS, O_SECS, O_TWICE, O_SPREAD, O_TAPS, O_READER, O_PROCS,
       O_DEFLATE };

/* --keyword, --winners, --secs, --twice, --spread (the values are checked
 * in check_lottery_opts). Returns 0 or -1. */
static int lottery_opt(lt_run_t *run, int o, const char *arg) {
    if (o == O_KEYWORD && strlen(arg) >= sizeof(run->keyword)) return fprintf(stderr, "--keyword: 1-50 bytes\n"), -1;
    if (o == O_KEYWORD) snprintf(run->keyword, sizeof(run->keyword), "%s", arg);
    else if (o == O_WINNERS) run->winners = atoi(arg);
    else if (o == O_SECS) run->lottery_secs = atoi(arg);
    else if (o == O_TWICE) run->twice = atof(arg);
    else run->spread = atof(arg);
    return 0;
}

/* Reads the options after the scenario's name. Returns 0, or the exit
 * status of a bad command line. */
static int parse_opts(lt_run_t *run, int argc, char **argv, const char **keyfile) {
    static const struct option opts[] = {
        {"url", 1, 0, O_URL},     {"src-addrs", 1, 0, O_SRC}, {"format", 1, 0, O_FMT},
        {"room", 1, 0, O_ROOM},   {"rooms", 1, 0, O_ROOMS},   {"conns", 1, 0, O_CONNS},
        {"duration", 1, 0, O_DUR}, {"ramp", 1, 0, O_RAMP},     {"stock", 1, 0, O_STOCK},
        {"limit", 1, 0, O_LIMIT}, {"qty", 1, 0, O_QTY},       {"inflight", 1, 0, O_INFL},
        {"json", 1, 0, O_JSON},   {"server-pid", 1, 0, O_PID}, {"rate", 1, 0, O_RATE},
        {"like-rate", 1, 0, O_LRATE}, {"size", 1, 0, O_SIZE},  {"churn", 1, 0, O_CHURN},
        {"strict", 0, 0, O_STRICT}, {"sample", 1, 0, O_SAMPLE}, {"proto", 1, 0, O_PROTO},
        {"pub-url", 1, 0, O_PUB}, {"resume", 0, 0, O_RESUME}, {"shards", 1, 0, O_SHARDS},
        {"pay-s", 1, 0, O_PAY_S}, {"pay-ratio", 1, 0, O_PAY_RATIO}, {"api-key-file", 1, 0, O_KEYFILE},
        {"quota", 1, 0, O_QUOTA}, {"per-user", 1, 0, O_PER_USER}, {"window", 1, 0, O_WINDOW},
        {"retry", 0, 0, O_RETRY}, {"keyword", 1, 0, O_KEYWORD}, {"winners", 1, 0, O_WINNERS},
        {"secs", 1, 0, O_SECS},   {"twice", 1, 0, O_TWICE},   {"spread", 1, 0, O_SPREAD},
        {"taps", 1, 0, O_TAPS},   {"reader", 1, 0, O_READER}, {"procs", 1, 0, O_PROCS},
        {"deflate", 0, 0, O_DEFLATE},
        {0, 0, 0, 0}};
    int o;
    optind = 2;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_URL:
            if (add_target(run, optarg) != 0) return 2;
            break;
        case O_SHARDS:
            if (add_shards(run, optarg) != 0) return 2;
            break;
        case O_PAY_S: run->pay_s = atoi(optarg); break;
        case O_PAY_RATIO: run->pay_ratio = atof(optarg); break;
        case O_KEYFILE: *keyfile = optarg; break;
        case O_QUOTA: run->quota = atol(optarg); break;
        case O_PER_USER: run->per_user = atol(optarg); break;
        case O_WINDOW: run->window = atoi(optarg); break;
        case O_RETRY: run->retry = 1; break;
        case O_KEYWORD: case O_WINNERS: case O_SECS: case O_TWICE: case O_SPREAD:
            if (lottery_opt(run, o, optarg) != 0) return 2;
            break;
        case O_SRC: {
            int n = atoi(optarg);
            if (n < 1 || n > LT_MAX_SRCS) return fprintf(stderr, "--src-addrs 1..%d\n", LT_MAX_SRCS), 2;
            for (int i = 0; i < n; i++) snprintf(run->srcs[i], sizeof(run->srcs[i]), "127.0.0.%d", i + 1);
            run->nsrcs = n;
            break;
        }
        case O_FMT:
            run->fmt = !strcmp(optarg, "json") ? 0 : !strcmp(optarg, "msgpack") ? 1 : -1;
            break;
        case O_ROOM: snprintf(run->room, sizeof(run->room), "%s", optarg); break;
        case O_ROOMS: run->rooms = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case O_CONNS: run->conns = atoi(optarg); break;
        case O_DUR: run->duration = atof(optarg); break;
        case O_RAMP: run->ramp = atof(optarg); break;
        case O_STOCK: run->stock = atol(optarg); break;
        case O_LIMIT: run->limit = atol(optarg); break;
        case O_QTY: run->qty = atol(optarg); break;
        case O_INFL: run->inflight = atoi(optarg); break;
        case O_TAPS: run->taps = atoi(optarg); break;
        case O_JSON: run->json_path = optarg; break;
        case O_PID: run->server_pid = atoi(optarg); break;
        case O_RATE: run->rate = atof(optarg); break;
        case O_LRATE: run->like_rate = atof(optarg); break;
        case O_SIZE: run->size = atoi(optarg); break;
        case O_CHURN: run->churn = atof(optarg); break;
        case O_STRICT: run->strict = 1; break;
        case O_RESUME: run->resume = 1; break;
        case O_SAMPLE: run->sample = atoi(optarg); break;
        case O_DEFLATE:
            run->deflate = 1;
            break;
        case O_READER:
            if (strcmp(optarg, "lean") && strcmp(optarg, "lws")) return fprintf(stderr, "--reader lean|lws\n"), 2;
            run->lean = !strcmp(optarg, "lean");
            break;
        case O_PROCS: run->procs = atoi(optarg); break;
        case O_PROTO: run->raw = !strcmp(optarg, "raw"); break;
        case O_PUB:
            if (lt_target_parse(&run->pub_target, optarg)) return fprintf(stderr, "bad --pub-url\n"), 2;
            break;
        default: usage(stderr); return 2;
        }
    }
    return 0;
}

/* Options that only make sense together. Returns 0, or the exit status. */
static int check_opts(lt_run_t *run, const char *keyfile) {
    if (!run->ntargets) lt_target_parse(&run->targets[run->ntargets++], "ws://127.0.0.1:8080/live");
    if (run->raw && !run->pub_target.port) return fprintf(stderr, "--proto raw needs --pub-url\n"), 2;
    if (run->resume && (run->raw || (run->sc != &lt_scenario_watch && run->sc != &lt_scenario_churn)))
        return fprintf(stderr, "--resume is for the watch and churn scenarios on livecart\n"), 2;
    /* load runs target loopback only */
    for (int i = 0; i <= run->ntargets; i++) {
        const lt_target_t *t = i < run->ntargets ? &run->targets[i] : &run->pub_target;
        if (i == run->ntargets && !run->raw) break;
        if (strncmp(t->host, "127.", 4) && strcmp(t->host, "::1") && strcmp(t->host, "localhost")) {
            fprintf(stderr, "refusing non-loopback target %s\n", t->host);
            return 2;
        }
    }
    if (run->conns < 1 || run->duration <= 0) return fprintf(stderr, "bad --conns/--duration\n"), 2;
    int viewers = run->sc == &lt_scenario_watch || run->sc == &lt_scenario_churn || run->sc == &lt_scenario_storm ||
                  run->sc == &lt_scenario_idle;
    if (run->deflate && (run->resume || !run->lean))
        return fprintf(stderr, "--deflate is for the lean reader, without --resume\n"), 2;
    if (run->procs < 1 || run->procs > 64 || (run->procs > 1 && (!viewers || run->resume || run->procs > run->conns)))
        return fprintf(stderr, "--procs 1..64, at most --conns, for watch/churn/storm/idle without --resume\n"), 2;
    if (run->sc == &lt_scenario_lottery && check_lottery_opts(run) != 0) return 2;
    return check_commerce_opts(run, keyfile) != 0 ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "merge")) return lt_merge_main(argc - 1, argv + 1);
    lt_run_t *run = calloc(1, sizeof(*run));
    if (!run) return 1;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        if (!strcmp(argv[1], scenarios[i]->name)) run->sc = scenarios[i];
    if (!run->sc) {
        fprintf(stderr, "unknown scenario '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    set_defaults(run);
    const char *keyfile = NULL;
    int rc = parse_opts(run, argc, argv, &keyfile);
    if (rc == 0) rc = check_opts(run, keyfile);
    if (rc != 0) return rc;
    if (run->procs > 1) { /* the parent returns when every child is done; a child goes on */
        int status = 1;
        rc = lt_procs_fork(run, &status);
        if (rc <= 0) {
            free(run->api_key);
            free(run);
            return rc < 0 ? 1 : status;
        }
    }
    raise_nofile(run->conns);

    uv_loop_t loop;
    uv_loop_init(&loop);
    run->loop = &loop;
    run->cl = lt_client_create(&loop);
    if (run->cl) lt_client_set_deflate(run->cl, run->deflate);
    if (!run->cl) return fprintf(stderr, "cannot create the client context\n"), 1;
    run->timeline = json_array();
    if (run->link && lt_procs_child_start(run) != 0) return fprintf(stderr, "cannot read the parent's pipe\n"), 1;
    lt_hist_init(&run->lat);
    lt_hist_init(&run->lat_sec);
    uv_timer_init(&loop, &run->progress);
    uv_timer_init(&loop, &run->stop);
    run->progress.data = run->stop.data = run;
    run->t0_ms = run->started_ms = uv_now(&loop);
    if (run->server_pid > 0 && lt__proc_stats(run->server_pid, &run->server_cpu0, &run->server_rss0) != 0)
        fprintf(stderr, "warning: cannot read /proc/%d\n", run->server_pid);
    uv_timer_start(&run->progress, on_progress, 1000, 1000);
    /* every scenario stops by itself: at the latest after duration + 60 s, plus the time to pay
     * that reservations have (the run waits for their expiry) or the lottery's length (the run
     * waits for its draw) */
    uint64_t wait_s = (uint64_t)run->pay_s + (run->sc == &lt_scenario_lottery ? (uint64_t)run->lottery_secs : 0);
    uv_timer_start(&run->stop, on_hard_stop, (uint64_t)(run->duration * 1000) + 60000 + wait_s * 1000, 0);
    if (run->sc->start(run) != 0) return 1;
    uv_run(&loop, UV_RUN_DEFAULT);
    int failed = run->failed;
    if (run->sc->cleanup && run->sc_state) run->sc->cleanup(run);
    lt_client_free(run->cl);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(run->api_key);
    free(run);
    return failed ? 1 : 0;
}
