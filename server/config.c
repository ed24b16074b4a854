/*
 * The command line. One table, lc__flags, holds every flag once; the code
 * below it only walks the table, so parsing, defaults, --help, the Markdown
 * list in README.md and lc_config_get cannot disagree about a flag.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LC__VERSION "livecart-server 0.1.0\n"

/* The member's offset, and a compile error unless it has type T: a row can
 * never write an unsigned into a double. */
#define LC__AT(m, T) _Generic(((lc_config_t *)0)->m, T : offsetof(lc_config_t, m))
#define LC__SZ(m) sizeof(((lc_config_t *)0)->m)

#define LC__NUM(k, T, n, a, m, o, lo, hi, d, h)                                             \
    {.name = n, .arg = a, .kind = k, .opts = o, .off = LC__AT(m, T), .size = LC__SZ(m),   \
     .min = lo, .max = hi, .def = d, .help = h}
#define LC_GROUP(title) {.name = title, .kind = LC_FLAG_GROUP}
#define LC_INT(n, a, m, lo, hi, d, h) LC__NUM(LC_FLAG_INT, int, n, a, m, 0, lo, hi, d, h)
#define LC_UINT(n, a, m, lo, hi, d, h) LC__NUM(LC_FLAG_UINT, unsigned, n, a, m, 0, lo, hi, d, h)
#define LC_UINT_OR0(n, a, m, lo, hi, d, h)                                                  \
    LC__NUM(LC_FLAG_UINT, unsigned, n, a, m, LC_FLAG_ZERO_OK, lo, hi, d, h)
#define LC_SIZE(n, a, m, lo, hi, d, h) LC__NUM(LC_FLAG_SIZE, size_t, n, a, m, 0, lo, hi, d, h)
/* Rates and bursts are whole numbers on the command line (as they always
 * were), doubles inside because the token buckets refill fractionally. */
#define LC_RATE(n, m, d, h) LC__NUM(LC_FLAG_RATE, double, n, "N", m, 0, 1, 100000, d, h)
#define LC_STR(n, a, m, o, d, doc, h)                                                       \
    {.name = n, .arg = a, .kind = LC_FLAG_STR, .opts = o, .off = LC__AT(m, char *),        \
     .size = LC__SZ(m), .def = d, .def_doc = doc, .help = h}
#define LC_LIST(n, a, m, count, h)                                                          \
    {.name = n, .arg = a, .kind = LC_FLAG_LIST, .off = LC__AT(m, char(*)[LC__SZ(m[0])]),   \
     .size = LC__SZ(m[0]), .off2 = LC__AT(count, int), .max = LC__SZ(m) / LC__SZ(m[0]),    \
     .help = h}
#define LC_HOSTPORT(n, host, port, d, h)                                                    \
    {.name = n, .arg = "HOST:PORT", .kind = LC_FLAG_HOSTPORT, .off = LC__AT(host, char *), \
     .size = LC__SZ(host), .off2 = LC__AT(port, int), .min = 1, .max = 65535, .def = d,    \
     .help = h}
#define LC_ACTION(n, k, h) {.name = n, .kind = k, .help = h}

/* In --help and README order. Help texts say what a value does; the range
 * and the default are added from the row, never written in the text. */
static const lc_flag_t lc__flags[] = {
    LC_GROUP("Listening"),
    LC_INT("port", "N", port, 1, 65535, "8080", "listen port"),
    LC_STR("bind", "ADDR", bind, LC_FLAG_EMPTY_OK, "127.0.0.1", NULL,
           "listen address, 0.0.0.0 for all"),
    LC_STR("tls-cert", "FILE", tls_cert, 0, NULL, NULL,
           "serve wss:// and https:// with this PEM certificate (needs --tls-key)"),
    LC_STR("tls-key", "FILE", tls_key, 0, NULL, NULL, "the PEM private key of --tls-cert"),
    LC_STR("web-root", "DIR", web_root, 0, NULL, "the installed or source web/",
           "serve the web apps from DIR"),
    LC_UINT("max-accept-rate", "N", max_accept_rate, 0, 10000000, "0",
            "WebSocket upgrades per second, over it 503 + Retry-After; 0: off"),
    LC_UINT("max-conns-per-ip", "N", max_conns_per_ip, 0, 10000000, "0",
            "connections per client IP; 0: off"),
    LC_LIST("trusted-proxy", "IP", trusted, ntrusted,
            "believe X-Forwarded-For from this proxy"),

    LC_GROUP("Redis and the cluster"),
    LC_HOSTPORT("redis", redis_host, redis_port, "127.0.0.1:6379",
                "Redis; the host is looked up once, at start-up"),
    LC_STR("redis-cluster", "HOST:PORT,...", redis_cluster, LC_FLAG_NO_SPACE, NULL, "off: one Redis",
           "a Redis Cluster instead: its map is learnt from these nodes (up to 8)"),
    LC_UINT_OR0("ack-replicas", "N", ack_replicas, 1, 16, "1",
                "with --redis-cluster: replicas that must hold a buy, cancel or group order "
                "before it is answered ok; 0: no wait"),
    LC_UINT("ack-timeout-ms", "N", ack_timeout_ms, 10, 60000, "1000",
            "fewer replicas than --ack-replicas this long: the answer is unknown; "
            "below --redis-timeout-ms"),
    LC_STR("shard", "NAME", shard, LC_FLAG_NO_SPACE, NULL, "HOSTNAME:PORT",
           "this shard's name in Redis"),
    LC_UINT("redis-timeout-ms", "N", redis_timeout_ms, 100, 600000, "5000",
            "reconnect when Redis does not answer this long"),
    LC_UINT("share-ttl-ms", "N", share_ttl_ms, 300, 3600000, "15000",
            "a dead shard's viewers leave the count within N + N/3 ms; at least 3 ticks"),
    LC_UINT("drain-ms", "N", drain_ms, 0, 600000, "2000",
            "on SIGTERM, spread reconnect hints and closes over N ms"),

    LC_GROUP("Rooms"),
    LC_UINT("tick-ms", "N", tick_ms, 1, 10000, "100", "coalescing tick for likes and counts"),
    LC_UINT("history", "N", history, 50, 1000000, "1000",
            "comments kept per room, the most a resume returns"),
    LC_UINT("ring-slots", "N", ring_slots, 8, 1 << 20, "4096",
            "messages a room buffers for slow readers"),
    LC_SIZE("ring-bytes", "N", ring_bytes, 4096, 1LL << 32, "4194304",
            "bytes a room buffers for slow readers"),
    LC_UINT("max-gaps", "N", max_gaps, 0, 1000, "3",
            "gaps before a slow connection is closed 1008"),
    LC_UINT("linger-ms", "N", linger_ms, 0, 3600000, "2000",
            "keep an empty room subscribed this long"),

    LC_GROUP("Connections"),
    LC_UINT("ping-secs", "N", ping_secs, 1, 3600, "20",
            "ping a silent connection after N s, cut it 10 s later"),
    LC_UINT("write-timeout-ms", "N", write_timeout_ms, 1000, 3600000, "10000",
            "cut a connection whose socket takes no bytes for N ms while there is "
            "something to send"),
    LC_UINT("write-delay-ms", "N", write_delay_ms, 0, 100, "0",
            "a connection with something new waits up to N ms for more before its one write "
            "(fewer segments when a room is hot; 0: write at once)"),
    LC_UINT("deflate", "0|1", deflate, 0, 1, "1",
            "offer permessage-deflate: each broadcast is compressed once per format and "
            "shared by every connection that negotiated it"),
    LC_UINT("deflate-level", "N", deflate_level, 1, 9, "6",
            "zlib level of that one compression (1 fastest, 9 smallest)"),
    LC_UINT_OR0("sndbuf", "N", sndbuf, 4096, 64LL << 20, "65536",
                "kernel send buffer per connection, bytes (the kernel doubles it); "
                "0: autotuning, up to net.ipv4.tcp_wmem"),

    LC_GROUP("Rate limits and abuse"),
    LC_RATE("buy-rate", buy_rate, "2", "buys, cancels and group joins per second per connection"),
    LC_RATE("buy-burst", buy_burst, "5", "buys, cancels and group joins allowed at once"),
    LC_RATE("comment-rate", comment_rate, "2", "comments per second per connection"),
    LC_RATE("comment-burst", comment_burst, "5", "comments allowed at once"),
    LC_RATE("like-rate", like_rate, "10", "like frames per second per connection"),
    LC_RATE("like-burst", like_burst, "20", "like frames allowed at once"),
    LC_UINT("abuse-close", "N", abuse_close, 1, 1000000, "30",
            "rate-limited frames in a row before closing 1008"),
    LC_STR("blocklist", "FILE", blocklist, 0, NULL, NULL,
           "refuse comments containing these terms (one a line; SIGHUP reloads)"),

    LC_GROUP("Sales"),
    LC_UINT("cancel-window-s", "N", cancel_window_s, 0, 86400 * 30, "300",
            "a buyer may cancel an order this long"),
    LC_UINT("req-ttl-s", "N", req_ttl_s, 60, 86400 * 30, "86400",
            "a buy's answer is repeated for retries this long"),
    LC_UINT("sale-max-per-ip", "N", sale_max_per_ip, 0, 1000000000, "0",
            "units one IP may buy per sale, over all shards; 0: off"),
    LC_UINT("audit-fast-ms", "N", audit_fast_ms, 0, 3600000, "300",
            "audit ok buys this soon after the sale opened"),
    LC_UINT("audit-ip-users", "N", audit_ip_users, 1, 1000000, "5",
            "audit buys from an IP with more buyers than this"),
    LC_UINT("answer-sold-out", "0|1", answer_sold_out, 0, 1, "1",
            "answer first buys of a sale heard sold out or closed, and claims of a coupon heard "
            "gone, at the shard (0: every one goes to Redis)"),

    LC_GROUP("Tokens and the publish API"),
    LC_STR("jwt-key-file", "FILE", jwt_key_file, 0, NULL, "open mode",
           "require HS256 tokens signed with this key"),
    LC_UINT("jwt-skew", "S", jwt_skew, 0, 10, "2",
            "seconds of clock skew allowed on token exp and nbf"),
    LC_UINT("max-token-ttl-s", "N", max_token_ttl_s, 0, 86400LL * 366 * 10, "86400",
            "refuse tokens whose exp is more than N s ahead; 0: no cap"),
    LC_STR("api-key-file", "FILE", api_key_file, 0, NULL, "env LIVECART_API_KEY, else off",
           "enable the publish API with this bearer key"),

    LC_GROUP("Other"),
    LC_ACTION("help", LC_FLAG_HELP, "print this help and exit"),
    LC_ACTION("version", LC_FLAG_VERSION, "print the version and exit"),
    LC_ACTION("flags-markdown", LC_FLAG_MARKDOWN,
              "print this list as the Markdown table in README.md and exit"),
};

#define LC__NFLAGS (sizeof(lc__flags) / sizeof(lc__flags[0]))
/* getopt_long's val for row i; above 255 so it never meets '?' or ':' */
#define LC__VAL0 256

static const char lc__usage[] =
    "usage: livecart-server [options]\n"
    "\n"
    "A livecart shard: live rooms over WebSocket at ws://HOST:PORT/live?room=ROOM,\n"
    "backed by Redis. Every option has a working default.\n";

const lc_flag_t *lc_config_flags(size_t *n) {
    *n = LC__NFLAGS;
    return lc__flags;
}

static int lc__is_number(const lc_flag_t *f) {
    return f->kind == LC_FLAG_INT || f->kind == LC_FLAG_UINT || f->kind == LC_FLAG_SIZE ||
           f->kind == LC_FLAG_RATE;
}

/* A whole number in f's range, base 10: an empty value or "10x" is
 * refused; leading blanks and a sign pass, as strtol always let them. A
 * value too large for long long saturates to LLONG_MIN/MAX, outside every
 * range, so errno need not be read. */
static int lc__num(const lc_flag_t *f, const char *s, long long *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end) return -1;
    if (!(v == 0 && (f->opts & LC_FLAG_ZERO_OK)) && (v < f->min || v > f->max)) return -1;
    *out = v;
    return 0;
}

static int lc__str(const lc_flag_t *f, char *dst, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (n >= cap || (n == 0 && !(f->opts & LC_FLAG_EMPTY_OK))) return -1;
    if ((f->opts & LC_FLAG_NO_SPACE) && strpbrk(s, " \t\n")) return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

/* The last colon splits, so "::1:6379" is host ::1. */
static int lc__hostport(lc_config_t *c, const lc_flag_t *f, const char *s) {
    const char *colon = strrchr(s, ':');
    long long port;
    if (!colon || colon == s || (size_t)(colon - s) >= f->size || lc__num(f, colon + 1, &port))
        return -1;
    char *host = (char *)c + f->off;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *(int *)(void *)((char *)c + f->off2) = (int)port;
    return 0;
}

/* Sets f's member of c from s, the command line's text; -1 if s is not
 * acceptable, and then c may hold part of it (the caller gives up). */
static int lc__set(lc_config_t *c, const lc_flag_t *f, const char *s) {
    void *p = (char *)c + f->off;
    long long v = 0;
    if (lc__is_number(f) && lc__num(f, s, &v)) return -1;
    switch (f->kind) {
    case LC_FLAG_INT: *(int *)p = (int)v; return 0;
    case LC_FLAG_UINT: *(unsigned *)p = (unsigned)v; return 0;
    case LC_FLAG_SIZE: *(size_t *)p = (size_t)v; return 0;
    case LC_FLAG_RATE: *(double *)p = (double)v; return 0;
    case LC_FLAG_STR: return lc__str(f, p, f->size, s);
    case LC_FLAG_HOSTPORT: return lc__hostport(c, f, s);
    case LC_FLAG_LIST: {
        int *n = (int *)(void *)((char *)c + f->off2);
        if (*n >= f->max || lc__str(f, (char *)p + (size_t)*n * f->size, f->size, s)) return -1;
        (*n)++;
        return 0;
    }
    default: return -1;
    }
}

/* f's value in c, as lc__set would take it back. */
static int lc__format(const lc_config_t *c, const lc_flag_t *f, char *buf, size_t cap) {
    const void *p = (const char *)c + f->off;
    int n = -1;
    switch (f->kind) {
    case LC_FLAG_INT: n = snprintf(buf, cap, "%d", *(const int *)p); break;
    case LC_FLAG_UINT: n = snprintf(buf, cap, "%u", *(const unsigned *)p); break;
    case LC_FLAG_SIZE: n = snprintf(buf, cap, "%zu", *(const size_t *)p); break;
    case LC_FLAG_RATE: n = snprintf(buf, cap, "%.17g", *(const double *)p); break;
    case LC_FLAG_STR: n = snprintf(buf, cap, "%s", (const char *)p); break;
    case LC_FLAG_HOSTPORT:
        n = snprintf(buf, cap, "%s:%d", (const char *)p,
                     *(const int *)(const void *)((const char *)c + f->off2));
        break;
    case LC_FLAG_LIST: {
        int count = *(const int *)(const void *)((const char *)c + f->off2);
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < count && used < cap; i++) {
            n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "",
                         (const char *)p + (size_t)i * f->size);
            if (n < 0) return -1;
            used += (size_t)n;
        }
        return used < cap ? 0 : -1;
    }
    default: return -1;
    }
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int lc_config_get(const lc_config_t *c, const char *name, char *buf, size_t cap) {
    if (cap == 0) return -1;
    for (size_t i = 0; i < LC__NFLAGS; i++)
        if (lc__flags[i].kind != LC_FLAG_GROUP && strcmp(lc__flags[i].name, name) == 0)
            return lc__format(c, &lc__flags[i], buf, cap);
    return -1;
}

/* "--port N", as both listings show a flag. */
static void lc__usage_of(const lc_flag_t *f, char *buf, size_t cap) {
    snprintf(buf, cap, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
}

/* What a number flag accepts, "1-65535" or "0 or 4096-67108864". */
static void lc__range(const lc_flag_t *f, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%lld-%lld", (f->opts & LC_FLAG_ZERO_OK) ? "0 or " : "", f->min, f->max);
}

/* The parenthesis --help adds after a flag's text, from the row. */
static void lc__help_note(const lc_flag_t *f, char *buf, size_t cap) {
    char range[64];
    buf[0] = '\0';
    if (lc__is_number(f)) {
        lc__range(f, range, sizeof(range));
        snprintf(buf, cap, "(%s%s%s)", range, f->def ? ", default " : "", f->def ? f->def : "");
    } else if (f->kind == LC_FLAG_LIST) {
        snprintf(buf, cap, "(repeatable, up to %lld)", f->max);
    } else if (f->def_doc) {
        snprintf(buf, cap, "(default: %s)", f->def_doc);
    } else if (f->def) {
        snprintf(buf, cap, "(default %s)", f->def);
    }
}

/* Prints text from column col (where the cursor is), then note, breaking
 * between words before column 80 and indenting the next lines to col, so
 * the help reads as a table on an 80-column terminal. The note (range and
 * default) is never broken: "(1-65535, default\n 8080)" reads badly. */
static void lc__wrap(FILE *out, const char *text, const char *note, int col) {
    int at = col;
    for (const char *w = text; *w || *note;) {
        if (*w == ' ') {
            w++;
            continue;
        }
        int last = !*w, len = last ? (int)strlen(note) : (int)strcspn(w, " ");
        if (at > col && at + 1 + len > 79) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', out);
            at++;
        }
        fprintf(out, "%.*s", len, last ? note : w);
        at += len;
        if (last) break;
        w += len;
    }
    fputc('\n', out);
}

/* A stream we wrote to: did every byte get out? (--help > /dev/full must
 * not exit 0.) */
static int lc__flushed(FILE *out) {
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int lc_config_help(FILE *out) {
    enum { COL = 23 }; /* "  --redis-timeout-ms N " */
    fputs(lc__usage, out);
    for (size_t i = 0; i < LC__NFLAGS; i++) {
        const lc_flag_t *f = &lc__flags[i];
        if (f->kind == LC_FLAG_GROUP) {
            fprintf(out, "\n%s:\n", f->name);
            continue;
        }
        char lead[64], note[160];
        lead[0] = lead[1] = ' ';
        lc__usage_of(f, lead + 2, sizeof(lead) - 2);
        lc__help_note(f, note, sizeof(note));
        if (strlen(lead) + 1 > COL)
            fprintf(out, "%s\n%*s", lead, COL, "");
        else
            fprintf(out, "%-*s", COL, lead);
        lc__wrap(out, f->help, note, COL);
    }
    return lc__flushed(out);
}

/* The Markdown "Accepts" cell. */
static void lc__accepts(const lc_flag_t *f, char *buf, size_t cap) {
    const char *blanks = (f->opts & LC_FLAG_NO_SPACE) ? ", no blanks" : "";
    long long lo = (f->opts & LC_FLAG_EMPTY_OK) ? 0 : 1, hi = (long long)f->size - 1;
    buf[0] = '\0';
    if (lc__is_number(f))
        lc__range(f, buf, cap);
    else if (f->kind == LC_FLAG_STR)
        snprintf(buf, cap, "%lld-%lld bytes%s", lo, hi, blanks);
    else if (f->kind == LC_FLAG_LIST)
        snprintf(buf, cap, "%lld-%lld bytes, up to %lld times", lo, hi, f->max);
    else if (f->kind == LC_FLAG_HOSTPORT)
        snprintf(buf, cap, "host 1-%lld bytes, port %lld-%lld", hi, f->min, f->max);
}

/* One Markdown cell, after the '|' before it: a '|' in the text would end
 * the cell early, so it is escaped. */
static void lc__md_cell(FILE *out, const char *s, int code) {
    if (*s) fputs(code ? " `" : " ", out);
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
    fputs(code ? "` |" : " |", out);
}

int lc_config_markdown(FILE *out) {
    fputs("| Flag | Default | Accepts | What it does |\n| --- | --- | --- | --- |\n", out);
    for (size_t i = 0; i < LC__NFLAGS; i++) {
        const lc_flag_t *f = &lc__flags[i];
        char flag[64], accepts[128];
        if (f->kind == LC_FLAG_GROUP) {
            fprintf(out, "| **%s** | | | |\n", f->name);
            continue;
        }
        lc__usage_of(f, flag, sizeof(flag));
        lc__accepts(f, accepts, sizeof(accepts));
        fputc('|', out);
        lc__md_cell(out, flag, 1);
        if (f->def_doc || !f->def)
            lc__md_cell(out, f->def_doc ? f->def_doc : "", 0);
        else
            lc__md_cell(out, f->def, 1);
        lc__md_cell(out, accepts, 0);
        lc__md_cell(out, f->help, 0);
        fputc('\n', out);
    }
    return lc__flushed(out);
}

/* Zero, then every row's default through the same parser as the command
 * line, so a default outside its own range cannot ship (it fails here and
 * in the unit test). */
static int lc__defaults(lc_config_t *c, FILE *err) {
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < LC__NFLAGS; i++) {
        const lc_flag_t *f = &lc__flags[i];
        if (f->kind != LC_FLAG_GROUP && f->def && lc__set(c, f, f->def) != 0) {
            fprintf(err, "livecart-server: bad default '%s' for --%s\n", f->def, f->name);
            return -1;
        }
    }
    c->welcome_history = 50; /* not a flag: PROTOCOL.md promises the last 50 */
    return 0;
}

/* Resolves host once, at start-up (the only blocking lookup we allow), so
 * reconnects never block the loop on DNS. */
static int lc__resolve(char *host, size_t cap) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return -1;
    char buf[NI_MAXHOST];
    int rc = getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof(buf), NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0 || strlen(buf) >= cap) return -1;
    strcpy(host, buf);
    return 0;
}

/* --redis-cluster's list, each host resolved (once, here). */
static int lc__seeds(lc_config_t *c, FILE *err) {
    const lc_flag_t port = {.min = 1, .max = 65535};
    char list[sizeof(c->redis_cluster)];
    memcpy(list, c->redis_cluster, sizeof(list));
    c->ncluster = 0;
    for (char *save = NULL, *one = strtok_r(list, ",", &save); one; one = strtok_r(NULL, ",", &save)) {
        const char *colon = strrchr(one, ':');
        long long v;
        int i = c->ncluster;
        size_t hn = colon ? (size_t)(colon - one) : 0;
        if (i >= LC_CLUSTER_SEEDS_MAX || !colon || hn == 0 || hn >= sizeof(c->cluster_hosts[0]) ||
            lc__num(&port, colon + 1, &v) != 0) {
            fprintf(err, "livecart-server: bad --redis-cluster node '%s' (HOST:PORT, at most %d)\n", one,
                    LC_CLUSTER_SEEDS_MAX);
            return -1;
        }
        memcpy(c->cluster_hosts[i], one, hn);
        c->cluster_hosts[i][hn] = '\0';
        if (lc__resolve(c->cluster_hosts[i], sizeof(c->cluster_hosts[i])) != 0) {
            fprintf(err, "livecart-server: cannot resolve Redis host '%s'\n", c->cluster_hosts[i]);
            return -1;
        }
        c->cluster_ports[i] = (int)v;
        c->ncluster++;
    }
    if (c->ncluster == 0) {
        fprintf(err, "livecart-server: --redis-cluster names no node\n");
        return -1;
    }
    return 0;
}

/* What no single flag can check: flags that depend on each other, the
 * default shard name (needs the port), the Redis lookup. */
static int lc__finish(lc_config_t *c, FILE *err) {
    if (c->share_ttl_ms < 3 * c->tick_ms) c->share_ttl_ms = 3 * c->tick_ms;
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        fprintf(err, "livecart-server: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (!c->shard[0]) {
        char host[HOST_NAME_MAX + 1] = "localhost";
        gethostname(host, sizeof(host) - 1); /* on failure "localhost" stays */
        snprintf(c->shard, sizeof(c->shard), "%.100s:%d", host, c->port);
    }
    if (lc__resolve(c->redis_host, sizeof(c->redis_host)) != 0) {
        fprintf(err, "livecart-server: cannot resolve Redis host '%s'\n", c->redis_host);
        return -1;
    }
    if (c->redis_cluster[0] && lc__seeds(c, err) != 0) return -1;
    if (c->redis_cluster[0] && c->ack_replicas && c->ack_timeout_ms >= c->redis_timeout_ms) {
        fprintf(err, "livecart-server: --ack-timeout-ms must be below --redis-timeout-ms\n");
        return -1;
    }
    return 0;
}

/* --help, --version, --flags-markdown: 1 (exit 0) once printed. */
static int lc__action(const lc_flag_t *f, FILE *out, FILE *err) {
    int rc;
    if (f->kind == LC_FLAG_HELP)
        rc = lc_config_help(out);
    else if (f->kind == LC_FLAG_MARKDOWN)
        rc = lc_config_markdown(out);
    else
        rc = fputs(LC__VERSION, out) < 0 ? -1 : lc__flushed(out);
    if (rc != 0) {
        fprintf(err, "livecart-server: cannot write the output of --%s\n", f->name);
        return -1;
    }
    return 1;
}

int lc_config_parse(lc_config_t *c, int argc, char **argv, FILE *out, FILE *err) {
    if (lc__defaults(c, err) != 0) return -1;
    struct option opts[LC__NFLAGS + 1];
    size_t n = 0;
    for (size_t i = 0; i < LC__NFLAGS; i++) {
        const lc_flag_t *f = &lc__flags[i];
        if (f->kind == LC_FLAG_GROUP) continue;
        opts[n++] = (struct option){f->name, f->arg ? required_argument : no_argument, NULL,
                                    LC__VAL0 + (int)i};
    }
    opts[n] = (struct option){0};
    optind = 0; /* 0, not 1: glibc and musl then reset all their state, so a second parse
                   (the unit tests) starts clean */
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o < LC__VAL0 || o >= LC__VAL0 + (int)LC__NFLAGS) {
            fprintf(err, "livecart-server: unknown or incomplete option '%s'\n", argv[optind - 1]);
            lc_config_help(err);
            return -1;
        }
        const lc_flag_t *f = &lc__flags[o - LC__VAL0];
        if (f->kind >= LC_FLAG_HELP) return lc__action(f, out, err);
        if (lc__set(c, f, optarg) != 0) {
            fprintf(err, "livecart-server: bad value '%s' for --%s\n", optarg, f->name);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(err, "livecart-server: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return lc__finish(c, err);
}
