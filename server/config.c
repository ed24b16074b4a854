#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
    "usage: livecart-server [options]\n"
    "\n"
    "A livecart shard: live rooms over WebSocket at ws://HOST:PORT/live?room=ROOM,\n"
    "backed by Redis. Every option has a working default.\n"
    "\n"
    "  --port N             listen port (default 8080)\n"
    "  --bind ADDR          listen address (default 127.0.0.1; 0.0.0.0 for all)\n"
    "  --redis HOST:PORT    Redis (default 127.0.0.1:6379)\n"
    "  --shard NAME         this shard's name in Redis (default HOSTNAME:PORT)\n"
    "  --tick-ms N          coalescing tick for likes and counts (default 100)\n"
    "  --share-ttl-ms N     a dead shard's viewers leave the count within\n"
    "                       N + N/3 ms (default 15000)\n"
    "  --ping-secs N        ping a silent connection after N s, cut it 10 s later\n"
    "                       (default 20)\n"
    "  --write-timeout-ms N cut a connection whose socket takes no bytes for N ms while\n"
    "                       there is something to send (default 10000)\n"
    "  --sndbuf N           kernel send buffer per connection, bytes (default 65536; the\n"
    "                       kernel doubles it; 0: autotuning, up to net.ipv4.tcp_wmem)\n"
    "  --history N          comments kept per room, most a resume returns (default 1000)\n"
    "  --ring-slots N       messages a room buffers for slow readers (default 4096)\n"
    "  --ring-bytes N       bytes a room buffers for slow readers (default 4194304)\n"
    "  --max-gaps N         gaps before a slow connection is closed 1008 (default 3)\n"
    "  --linger-ms N        keep an empty room subscribed this long (default 2000)\n"
    "  --redis-timeout-ms N reconnect when Redis does not answer this long (default 5000)\n"
    "  --drain-ms N         on SIGTERM, spread reconnect hints and closes over N ms (default 2000)\n"
    "  --max-accept-rate N  WebSocket upgrades per second; over it 503 + Retry-After\n"
    "                       (default 0: off)\n"
    "  --buy-rate N         buys, cancels and group joins per second per connection (default 2)\n"
    "  --buy-burst N        ... allowed at once (default 5)\n"
    "  --cancel-window-s N  a buyer may cancel an order this long (default 300)\n"
    "  --req-ttl-s N        a buy's answer is repeated for retries this long (default 86400)\n"
    "  --jwt-key-file FILE  require HS256 tokens signed with this key (default: open mode)\n"
    "  --jwt-skew S         clock skew allowed on token exp and nbf, 0-10 (default 2)\n"
    "  --max-token-ttl-s N  refuse tokens whose exp is more than N s ahead (default 86400;\n"
    "                       0: no cap)\n"
    "  --blocklist FILE     refuse comments containing these terms (one a line; SIGHUP reloads)\n"
    "  --comment-rate N --comment-burst N   comments per connection (default 2/s, burst 5)\n"
    "  --like-rate N --like-burst N         like frames per connection (default 10/s, burst 20)\n"
    "  --abuse-close N      rate-limited frames in a row before closing 1008 (default 30)\n"
    "  --max-conns-per-ip N connections per client IP (default 0: off)\n"
    "  --trusted-proxy IP   believe X-Forwarded-For from this proxy (repeatable)\n"
    "  --sale-max-per-ip N  units one IP may buy per sale, over all shards (default 0: off)\n"
    "  --audit-fast-ms N    audit ok buys this soon after the sale opened (default 300)\n"
    "  --audit-ip-users N   audit buys from an IP with more buyers than this (default 5)\n"
    "  --tls-cert FILE --tls-key FILE       serve wss:// and https:// (PEM)\n"
    "  --web-root DIR       serve the web apps from DIR (default: the installed or source web/)\n"
    "  --api-key-file FILE  enable the publish API with this bearer key (or env LIVECART_API_KEY)\n"
    "  --help, --version\n";

static int num(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int copy(char *dst, size_t cap, const char *src) {
    if (!*src || strlen(src) >= cap) return -1;
    strcpy(dst, src);
    return 0;
}

/* Resolves host once, at start-up (the only blocking lookup we allow), so
 * reconnects never block the loop on DNS. */
static int resolve(char *host, size_t cap) {
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

int lc_config_parse(lc_config_t *c, int argc, char **argv, FILE *out, FILE *err) {
    memset(c, 0, sizeof(*c));
    c->port = 8080;
    strcpy(c->bind, "127.0.0.1");
    strcpy(c->redis_host, "127.0.0.1");
    c->redis_port = 6379;
    c->tick_ms = 100;
    c->share_ttl_ms = 15000;
    c->ping_secs = 20;
    c->write_timeout_ms = 10000;
    c->sndbuf = 65536;
    c->history = 1000;
    c->welcome_history = 50;
    c->ring_slots = 4096;
    c->ring_bytes = 4u << 20;
    c->max_gaps = 3;
    c->linger_ms = 2000;
    c->redis_timeout_ms = 5000;
    c->drain_ms = 2000;
    c->buy_rate = 2;
    c->buy_burst = 5;
    c->cancel_window_s = 300;
    c->req_ttl_s = 86400;
    c->jwt_skew = 2;
    c->max_token_ttl_s = 86400;
    c->comment_rate = 2;
    c->comment_burst = 5;
    c->like_rate = 10;
    c->like_burst = 20;
    c->abuse_close = 30;
    c->audit_fast_ms = 300;
    c->audit_ip_users = 5;

    enum { O_PORT = 256, O_BIND, O_REDIS, O_SHARD, O_TICK, O_TTL, O_PING, O_HIST, O_SLOTS, O_BYTES,
           O_GAPS, O_LINGER, O_RTIMEOUT, O_DRAIN, O_BRATE, O_BBURST, O_CWIN, O_REQTTL, O_JWT,
           O_SKEW, O_BLOCK, O_CRATE, O_CBURST, O_LRATE, O_LBURST, O_ABUSE, O_IPMAX, O_TRUST,
           O_SALEIP, O_AFAST, O_AUSERS, O_CERT, O_KEY, O_ACCEPT, O_WEB, O_APIKEY, O_TOKTTL, O_WTIMEOUT, O_SNDBUF, O_HELP, O_VERSION };
    static const struct option opts[] = {
        {"port", 1, 0, O_PORT},         {"bind", 1, 0, O_BIND},
        {"redis", 1, 0, O_REDIS},       {"shard", 1, 0, O_SHARD},
        {"tick-ms", 1, 0, O_TICK},      {"share-ttl-ms", 1, 0, O_TTL},
        {"ping-secs", 1, 0, O_PING},    {"history", 1, 0, O_HIST},
        {"ring-slots", 1, 0, O_SLOTS},  {"ring-bytes", 1, 0, O_BYTES},
        {"max-gaps", 1, 0, O_GAPS},     {"linger-ms", 1, 0, O_LINGER},
        {"redis-timeout-ms", 1, 0, O_RTIMEOUT}, {"drain-ms", 1, 0, O_DRAIN},
        {"buy-rate", 1, 0, O_BRATE},    {"buy-burst", 1, 0, O_BBURST},
        {"cancel-window-s", 1, 0, O_CWIN}, {"req-ttl-s", 1, 0, O_REQTTL},
        {"jwt-key-file", 1, 0, O_JWT},  {"jwt-skew", 1, 0, O_SKEW},
        {"blocklist", 1, 0, O_BLOCK},   {"comment-rate", 1, 0, O_CRATE},
        {"comment-burst", 1, 0, O_CBURST}, {"like-rate", 1, 0, O_LRATE},
        {"like-burst", 1, 0, O_LBURST}, {"abuse-close", 1, 0, O_ABUSE},
        {"max-conns-per-ip", 1, 0, O_IPMAX}, {"trusted-proxy", 1, 0, O_TRUST},
        {"sale-max-per-ip", 1, 0, O_SALEIP}, {"audit-fast-ms", 1, 0, O_AFAST},
        {"audit-ip-users", 1, 0, O_AUSERS}, {"tls-cert", 1, 0, O_CERT},
        {"tls-key", 1, 0, O_KEY},       {"max-accept-rate", 1, 0, O_ACCEPT},
        {"web-root", 1, 0, O_WEB},      {"api-key-file", 1, 0, O_APIKEY},
        {"max-token-ttl-s", 1, 0, O_TOKTTL}, {"write-timeout-ms", 1, 0, O_WTIMEOUT},
        {"sndbuf", 1, 0, O_SNDBUF},
        {"help", 0, 0, O_HELP},         {"version", 0, 0, O_VERSION},
        {0, 0, 0, 0}};
    int o;
    long v = 0;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *a = optarg;
        int bad = 0;
        switch (o) {
        case O_PORT: bad = num(a, 1, 65535, &v); c->port = (int)v; break;
        case O_BIND: bad = strlen(a) >= sizeof(c->bind); if (!bad) strcpy(c->bind, a); break;
        case O_REDIS: {
            const char *colon = strrchr(a, ':');
            bad = !colon || colon == a || (size_t)(colon - a) >= sizeof(c->redis_host) ||
                  num(colon + 1, 1, 65535, &v);
            if (!bad) {
                memcpy(c->redis_host, a, (size_t)(colon - a));
                c->redis_host[colon - a] = '\0';
                c->redis_port = (int)v;
            }
            break;
        }
        case O_SHARD:
            bad = !*a || strlen(a) >= sizeof(c->shard) || strpbrk(a, " \t\n") != NULL;
            if (!bad) strcpy(c->shard, a);
            break;
        case O_TICK: bad = num(a, 1, 10000, &v); c->tick_ms = (unsigned)v; break;
        case O_TTL: bad = num(a, 300, 3600000, &v); c->share_ttl_ms = (unsigned)v; break;
        case O_PING: bad = num(a, 1, 3600, &v); c->ping_secs = (unsigned)v; break;
        case O_HIST: bad = num(a, 50, 1000000, &v); c->history = (unsigned)v; break;
        case O_SLOTS: bad = num(a, 8, 1 << 20, &v); c->ring_slots = (unsigned)v; break;
        case O_BYTES: bad = num(a, 4096, 1L << 32, &v); c->ring_bytes = (size_t)v; break;
        case O_GAPS: bad = num(a, 0, 1000, &v); c->max_gaps = (unsigned)v; break;
        case O_LINGER: bad = num(a, 0, 3600000, &v); c->linger_ms = (unsigned)v; break;
        case O_RTIMEOUT: bad = num(a, 100, 600000, &v); c->redis_timeout_ms = (unsigned)v; break;
        case O_DRAIN: bad = num(a, 0, 600000, &v); c->drain_ms = (unsigned)v; break;
        case O_BRATE: bad = num(a, 1, 100000, &v); c->buy_rate = (double)v; break;
        case O_BBURST: bad = num(a, 1, 100000, &v); c->buy_burst = (double)v; break;
        case O_CWIN: bad = num(a, 0, 86400 * 30, &v); c->cancel_window_s = (unsigned)v; break;
        case O_REQTTL: bad = num(a, 60, 86400 * 30, &v); c->req_ttl_s = (unsigned)v; break;
        case O_JWT: bad = copy(c->jwt_key_file, sizeof(c->jwt_key_file), a); break;
        case O_SKEW: bad = num(a, 0, 10, &v); c->jwt_skew = (unsigned)v; break;
        case O_BLOCK: bad = copy(c->blocklist, sizeof(c->blocklist), a); break;
        case O_CRATE: bad = num(a, 1, 100000, &v); c->comment_rate = (double)v; break;
        case O_CBURST: bad = num(a, 1, 100000, &v); c->comment_burst = (double)v; break;
        case O_LRATE: bad = num(a, 1, 100000, &v); c->like_rate = (double)v; break;
        case O_LBURST: bad = num(a, 1, 100000, &v); c->like_burst = (double)v; break;
        case O_ABUSE: bad = num(a, 1, 1000000, &v); c->abuse_close = (unsigned)v; break;
        case O_IPMAX: bad = num(a, 0, 10000000, &v); c->max_conns_per_ip = (unsigned)v; break;
        case O_TRUST:
            bad = c->ntrusted == 16 || copy(c->trusted[c->ntrusted], sizeof(c->trusted[0]), a);
            if (!bad) c->ntrusted++;
            break;
        case O_SALEIP: bad = num(a, 0, 1000000000, &v); c->sale_max_per_ip = (unsigned)v; break;
        case O_AFAST: bad = num(a, 0, 3600000, &v); c->audit_fast_ms = (unsigned)v; break;
        case O_AUSERS: bad = num(a, 1, 1000000, &v); c->audit_ip_users = (unsigned)v; break;
        case O_CERT: bad = copy(c->tls_cert, sizeof(c->tls_cert), a); break;
        case O_KEY: bad = copy(c->tls_key, sizeof(c->tls_key), a); break;
        case O_ACCEPT: bad = num(a, 0, 10000000, &v); c->max_accept_rate = (unsigned)v; break;
        case O_WEB: bad = copy(c->web_root, sizeof(c->web_root), a); break;
        case O_APIKEY: bad = copy(c->api_key_file, sizeof(c->api_key_file), a); break;
        case O_WTIMEOUT: bad = num(a, 1000, 3600000, &v); c->write_timeout_ms = (unsigned)v; break;
        case O_SNDBUF: bad = num(a, 0, 64L << 20, &v) || (v && v < 4096); c->sndbuf = (unsigned)v; break;
        case O_TOKTTL: bad = num(a, 0, 86400L * 366 * 10, &v); c->max_token_ttl_s = (unsigned)v; break;
        case O_HELP: fputs(usage, out); return 1;
        case O_VERSION: fputs("livecart-server 0.1.0\n", out); return 1;
        default:
            fprintf(err, "livecart-server: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage);
            return -1;
        }
        if (bad) {
            const char *name = "?";
            for (const struct option *op = opts; op->name; op++)
                if (op->val == o) name = op->name;
            fprintf(err, "livecart-server: bad value '%s' for --%s\n", a, name);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(err, "livecart-server: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (c->share_ttl_ms < 3 * c->tick_ms) c->share_ttl_ms = 3 * c->tick_ms;
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        fprintf(err, "livecart-server: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (!c->shard[0]) {
        char host[HOST_NAME_MAX + 1] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(c->shard, sizeof(c->shard), "%.100s:%d", host, c->port);
    }
    if (resolve(c->redis_host, sizeof(c->redis_host)) != 0) {
        fprintf(err, "livecart-server: cannot resolve Redis host '%s'\n", c->redis_host);
        return -1;
    }
    return 0;
}
