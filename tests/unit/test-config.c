/* lc_config: the documented defaults, every kind of flag parsed and range
 * checked (from the table and by hand, so the table is not only checked
 * against itself), the post-processing, the error messages, and --help,
 * --flags-markdown and README.md agreeing with the table. */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lc_test.h"

/* meson passes the source tree; a standalone build runs from it */
#ifndef LC_SOURCE_ROOT
#define LC_SOURCE_ROOT "."
#endif

static lc_config_t cfg;
static char *out_text, *err_text; /* what the last parse printed */

/* Parses the NULL-terminated arguments into cfg, keeping what it printed. */
static int parse_v(const char *first, va_list ap) {
    char *argv[64] = {"livecart-server"};
    int argc = 1;
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    argv[argc] = NULL;
    free(out_text);
    free(err_text);
    size_t on, en;
    FILE *out = open_memstream(&out_text, &on), *err = open_memstream(&err_text, &en);
    if (!out || !err) abort();
    int rc = lc_config_parse(&cfg, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static int parse(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    int rc = parse_v(first, ap);
    va_end(ap);
    return rc;
}

/* One flag, one value: 0 when taken (and read back the same), -1 refused
 * with the message naming both. */
static int one(const char *name, const char *value) {
    char flag[64], want[1024], got[1024];
    snprintf(flag, sizeof(flag), "--%s", name);
    int rc = parse(flag, value, NULL);
    if (rc == 0) {
        CHECK(lc_config_get(&cfg, name, got, sizeof(got)) == 0);
        return strcmp(got, value) == 0 ? 0 : 1;
    }
    snprintf(want, sizeof(want), "livecart-server: bad value '%s' for --%s\n", value, name);
    CHECK(strcmp(err_text, want) == 0);
    return rc;
}

static int starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int is_number(const lc_flag_t *f) {
    return f->kind == LC_FLAG_INT || f->kind == LC_FLAG_UINT || f->kind == LC_FLAG_SIZE ||
           f->kind == LC_FLAG_RATE;
}

static void test_defaults_are_the_documented_ones(void) {
    CHECK_EQ_INT(parse(NULL), 0);
    CHECK_EQ_INT(cfg.port, 8080);
    CHECK(strcmp(cfg.bind, "127.0.0.1") == 0);
    CHECK(strcmp(cfg.redis_host, "127.0.0.1") == 0);
    CHECK_EQ_INT(cfg.redis_port, 6379);
    char host[HOST_NAME_MAX + 1] = "localhost", shard[200];
    gethostname(host, sizeof(host) - 1);
    snprintf(shard, sizeof(shard), "%.100s:8080", host);
    CHECK(strcmp(cfg.shard, shard) == 0);
    CHECK_EQ_INT(cfg.tick_ms, 100);
    CHECK_EQ_INT(cfg.share_ttl_ms, 15000);
    CHECK_EQ_INT(cfg.ping_secs, 20);
    CHECK_EQ_INT(cfg.write_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.sndbuf, 65536);
    CHECK_EQ_INT(cfg.history, 1000);
    CHECK_EQ_INT(cfg.welcome_history, 50);
    CHECK_EQ_INT(cfg.ring_slots, 4096);
    CHECK_EQ_INT(cfg.ring_bytes, 4u << 20);
    CHECK_EQ_INT(cfg.max_gaps, 3);
    CHECK_EQ_INT(cfg.linger_ms, 2000);
    CHECK_EQ_INT(cfg.redis_timeout_ms, 5000);
    CHECK_EQ_INT(cfg.drain_ms, 2000);
    CHECK_EQ_INT(cfg.max_accept_rate, 0);
    CHECK(cfg.buy_rate == 2 && cfg.buy_burst == 5);
    CHECK_EQ_INT(cfg.cancel_window_s, 300);
    CHECK_EQ_INT(cfg.req_ttl_s, 86400);
    CHECK(cfg.jwt_key_file[0] == '\0' && cfg.blocklist[0] == '\0');
    CHECK_EQ_INT(cfg.jwt_skew, 2);
    CHECK_EQ_INT(cfg.max_token_ttl_s, 86400);
    CHECK(cfg.comment_rate == 2 && cfg.comment_burst == 5);
    CHECK(cfg.like_rate == 10 && cfg.like_burst == 20);
    CHECK_EQ_INT(cfg.abuse_close, 30);
    CHECK_EQ_INT(cfg.max_conns_per_ip, 0);
    CHECK_EQ_INT(cfg.ntrusted, 0);
    CHECK_EQ_INT(cfg.sale_max_per_ip, 0);
    CHECK_EQ_INT(cfg.audit_fast_ms, 300);
    CHECK_EQ_INT(cfg.audit_ip_users, 5);
    CHECK(!cfg.tls_cert[0] && !cfg.tls_key[0] && !cfg.web_root[0] && !cfg.api_key_file[0]);
    CHECK(err_text[0] == '\0' && out_text[0] == '\0');
}

/* Every row: names unique, help present, a number has a default inside
 * its range, and each default reads back as written. */
static void test_every_row_is_complete_and_its_default_reads_back(void) {
    size_t n;
    const lc_flag_t *t = lc_config_flags(&n);
    CHECK(n > 40);
    CHECK_EQ_INT(parse(NULL), 0);
    for (size_t i = 0; i < n; i++) {
        const lc_flag_t *f = &t[i];
        char got[1024];
        CHECK(f->name && f->name[0]);
        if (f->kind == LC_FLAG_GROUP) continue;
        CHECK(f->help && f->help[0] && !strchr(f->help, '\n'));
        for (size_t j = i + 1; j < n; j++)
            CHECK(t[j].kind == LC_FLAG_GROUP || strcmp(t[j].name, f->name) != 0);
        if (is_number(f)) CHECK(f->def && f->min <= f->max);
        if (f->def) {
            CHECK(lc_config_get(&cfg, f->name, got, sizeof(got)) == 0);
            CHECK(strcmp(got, f->def) == 0);
        }
    }
    char small[4];
    CHECK(lc_config_get(&cfg, "port", small, sizeof(small)) == -1); /* "8080" needs 5 */
    CHECK(lc_config_get(&cfg, "redis", small, sizeof(small)) == -1);
    CHECK(lc_config_get(&cfg, "no-such-flag", small, sizeof(small)) == -1);
    CHECK(lc_config_get(&cfg, "Listening", small, sizeof(small)) == -1);
}

/* From the table: min and max are taken, one beyond either, empty,
 * trailing garbage and words are refused, for every number flag. */
static void test_every_number_is_range_checked(void) {
    size_t n;
    const lc_flag_t *t = lc_config_flags(&n);
    for (size_t i = 0; i < n; i++) {
        const lc_flag_t *f = &t[i];
        char v[32];
        if (!is_number(f)) continue;
        snprintf(v, sizeof(v), "%lld", f->min);
        CHECK_EQ_INT(one(f->name, v), 0);
        snprintf(v, sizeof(v), "%lld", f->max);
        CHECK_EQ_INT(one(f->name, v), 0);
        snprintf(v, sizeof(v), "%lld", f->max + 1);
        CHECK_EQ_INT(one(f->name, v), -1);
        if (f->min > 0) { /* just below: refused, unless it is the 0 (off) a row allows */
            snprintf(v, sizeof(v), "%lld", f->min - 1);
            CHECK_EQ_INT(one(f->name, v), f->min == 1 && (f->opts & LC_FLAG_ZERO_OK) ? 0 : -1);
        }
        snprintf(v, sizeof(v), "%lldx", f->min);
        CHECK_EQ_INT(one(f->name, v), -1);
        CHECK_EQ_INT(one(f->name, ""), -1);
        CHECK_EQ_INT(one(f->name, "ten"), -1);
        CHECK_EQ_INT(one(f->name, "-1"), -1);
        CHECK_EQ_INT(one(f->name, "99999999999999999999999"), -1);
    }
}

/* The same ranges by hand, as the old switch had them. */
static void test_the_ranges_by_hand(void) {
    CHECK_EQ_INT(one("port", "0"), -1);
    CHECK_EQ_INT(one("port", "65536"), -1);
    CHECK_EQ_INT(one("port", "9000"), 0);
    CHECK_EQ_INT(cfg.port, 9000);
    CHECK_EQ_INT(one("sndbuf", "0"), 0);
    CHECK_EQ_INT(cfg.sndbuf, 0);
    CHECK_EQ_INT(one("sndbuf", "1"), -1);
    CHECK_EQ_INT(one("sndbuf", "4095"), -1);
    CHECK_EQ_INT(one("sndbuf", "4096"), 0);
    CHECK_EQ_INT(one("sndbuf", "67108864"), 0);
    CHECK_EQ_INT(one("sndbuf", "67108865"), -1);
    CHECK_EQ_INT(one("jwt-skew", "11"), -1);
    CHECK_EQ_INT(one("history", "49"), -1);
    CHECK_EQ_INT(one("share-ttl-ms", "299"), -1);
    CHECK_EQ_INT(one("write-timeout-ms", "999"), -1);
    CHECK_EQ_INT(one("req-ttl-s", "2592001"), -1);
    CHECK_EQ_INT(one("max-token-ttl-s", "316224000"), 0);
    CHECK_EQ_INT(one("max-token-ttl-s", "316224001"), -1);
    CHECK_EQ_INT(one("ring-bytes", "4294967296"), 0);
    CHECK_EQ_INT(cfg.ring_bytes, (size_t)1 << 32);
    CHECK_EQ_INT(one("ring-bytes", "4294967297"), -1);
    CHECK_EQ_INT(one("buy-rate", "3"), 0);
    CHECK(cfg.buy_rate == 3.0);
    CHECK_EQ_INT(one("buy-rate", "2.5"), -1); /* whole numbers, as always */
    CHECK_EQ_INT(one("like-burst", "0"), -1);
    CHECK_EQ_INT(parse("--tick-ms=250", NULL), 0); /* --flag=value works too */
    CHECK_EQ_INT(cfg.tick_ms, 250);
}

static void test_strings_are_non_empty_and_fit(void) {
    char v[300];
    memset(v, 'a', sizeof(v));
    v[255] = '\0';
    CHECK_EQ_INT(one("jwt-key-file", v), 0);
    CHECK(strcmp(cfg.jwt_key_file, v) == 0);
    v[255] = 'a';
    v[256] = '\0';
    CHECK_EQ_INT(one("jwt-key-file", v), -1);
    CHECK_EQ_INT(one("jwt-key-file", ""), -1);
    CHECK_EQ_INT(one("blocklist", ""), -1);
    CHECK_EQ_INT(one("web-root", "/srv/web"), 0);
    CHECK_EQ_INT(one("api-key-file", "k"), 0);
    CHECK_EQ_INT(one("bind", ""), 0); /* bind alone may be empty, as before */
    CHECK_EQ_INT(one("bind", "0.0.0.0"), 0);
    v[64] = '\0';
    CHECK_EQ_INT(one("bind", v), -1);
    CHECK_EQ_INT(one("shard", "eu-1:8080"), 0);
    CHECK_EQ_INT(one("shard", ""), -1);
    CHECK_EQ_INT(one("shard", "a b"), -1);
    CHECK_EQ_INT(one("shard", "a\tb"), -1);
}

static void test_trusted_proxy_repeats_up_to_16(void) {
    const char *ips[17] = {"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5",
                           "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9", "10.0.0.10",
                           "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15",
                           "10.0.0.16"};
    char *argv[40] = {"livecart-server"};
    int argc = 1;
    for (int i = 0; i < 16; i++) {
        argv[argc++] = "--trusted-proxy";
        argv[argc++] = (char *)ips[i];
    }
    FILE *null = fopen("/dev/null", "w");
    CHECK(null != NULL);
    CHECK_EQ_INT(lc_config_parse(&cfg, argc, argv, null, null), 0);
    CHECK_EQ_INT(cfg.ntrusted, 16);
    CHECK(strcmp(cfg.trusted[0], "10.0.0.0") == 0 && strcmp(cfg.trusted[15], "10.0.0.15") == 0);
    char got[1024];
    CHECK(lc_config_get(&cfg, "trusted-proxy", got, sizeof(got)) == 0);
    CHECK(strncmp(got, "10.0.0.0,10.0.0.1,", 18) == 0);
    argv[argc++] = "--trusted-proxy";
    argv[argc++] = (char *)ips[16];
    CHECK_EQ_INT(lc_config_parse(&cfg, argc, argv, null, null), -1);
    fclose(null);
    CHECK_EQ_INT(parse("--trusted-proxy", "", NULL), -1);
    char long_ip[49];
    memset(long_ip, '1', 48);
    long_ip[48] = '\0';
    CHECK_EQ_INT(parse("--trusted-proxy", long_ip, NULL), -1);
    long_ip[47] = '\0';
    CHECK_EQ_INT(parse("--trusted-proxy", long_ip, NULL), 0);
}

static void test_redis_host_port(void) {
    CHECK_EQ_INT(parse("--redis", "127.0.0.1:7000", NULL), 0);
    CHECK(strcmp(cfg.redis_host, "127.0.0.1") == 0);
    CHECK_EQ_INT(cfg.redis_port, 7000);
    CHECK_EQ_INT(parse("--redis", "localhost:6380", NULL), 0); /* resolved once, to numeric */
    CHECK(strcmp(cfg.redis_host, "127.0.0.1") == 0 || strcmp(cfg.redis_host, "::1") == 0);
    CHECK_EQ_INT(cfg.redis_port, 6380);
    CHECK_EQ_INT(parse("--redis", "::1:6381", NULL), 0); /* the last colon splits */
    CHECK(strcmp(cfg.redis_host, "::1") == 0);
    CHECK_EQ_INT(cfg.redis_port, 6381);
    CHECK_EQ_INT(one("redis", "127.0.0.1"), -1);
    CHECK_EQ_INT(one("redis", ":6379"), -1);
    CHECK_EQ_INT(one("redis", "h:"), -1);
    CHECK_EQ_INT(one("redis", "h:0"), -1);
    CHECK_EQ_INT(one("redis", "h:65536"), -1);
    CHECK_EQ_INT(one("redis", "h:63x"), -1);
    CHECK_EQ_INT(one("redis", ""), -1);
    char v[300];
    memset(v, 'h', sizeof(v));
    strcpy(v + 256, ":6379");
    CHECK_EQ_INT(one("redis", v), -1);
}

static void test_post_processing(void) {
    CHECK_EQ_INT(parse("--tick-ms", "10000", "--share-ttl-ms", "300", NULL), 0);
    CHECK_EQ_INT(cfg.share_ttl_ms, 30000); /* raised to 3 ticks */
    CHECK_EQ_INT(parse("--tick-ms", "1000", NULL), 0);
    CHECK_EQ_INT(cfg.share_ttl_ms, 15000);
    CHECK_EQ_INT(parse("--tls-cert", "c.pem", NULL), -1);
    CHECK(strcmp(err_text, "livecart-server: --tls-cert and --tls-key go together\n") == 0);
    CHECK_EQ_INT(parse("--tls-key", "k.pem", NULL), -1);
    CHECK_EQ_INT(parse("--tls-cert", "c.pem", "--tls-key", "k.pem", NULL), 0);
    CHECK_EQ_INT(parse("--port", "9123", NULL), 0);
    size_t len = strlen(cfg.shard);
    CHECK(len > 5 && strcmp(cfg.shard + len - 5, ":9123") == 0);
    CHECK_EQ_INT(parse("--port", "9123", "--shard", "mine", NULL), 0);
    CHECK(strcmp(cfg.shard, "mine") == 0);
}

static void test_bad_command_lines(void) {
    CHECK_EQ_INT(parse("--no-such-flag", NULL), -1);
    CHECK(starts(err_text,
                 "livecart-server: unknown or incomplete option '--no-such-flag'\nusage: "));
    CHECK_EQ_INT(parse("--port", NULL), -1);
    CHECK(starts(err_text, "livecart-server: unknown or incomplete option '--port'\nusage: "));
    CHECK_EQ_INT(parse("--help=1", NULL), -1);
    CHECK_EQ_INT(parse("-p", "1", NULL), -1);
    CHECK_EQ_INT(parse("--port", "9000", "extra", NULL), -1);
    CHECK(strcmp(err_text, "livecart-server: unexpected argument 'extra'\n") == 0);
    CHECK(out_text[0] == '\0');
    CHECK_EQ_INT(parse("--port", "9000", NULL), 0); /* a clean parse after failures */
    CHECK_EQ_INT(cfg.port, 9000);
}

/* Every flag in the table appears in both listings; help fits 80 columns. */
static void test_help_and_markdown_list_every_flag(void) {
    CHECK_EQ_INT(parse("--help", NULL), 1);
    char *help = strdup(out_text);
    CHECK_EQ_INT(parse("--flags-markdown", NULL), 1);
    char *md = strdup(out_text);
    CHECK_EQ_INT(parse("--version", NULL), 1);
    CHECK(strcmp(out_text, "livecart-server 0.1.0\n") == 0);
    CHECK(help && md && starts(help, "usage: livecart-server [options]\n"));
    size_t n;
    const lc_flag_t *t = lc_config_flags(&n);
    for (size_t i = 0; i < n; i++) {
        char want[80];
        snprintf(want, sizeof(want), t[i].kind == LC_FLAG_GROUP ? "\n%s:\n" : "  --%s ", t[i].name);
        if (!strstr(help, want)) fprintf(stderr, "--help lacks %s\n", t[i].name);
        CHECK(strstr(help, want) != NULL);
        snprintf(want, sizeof(want), t[i].kind == LC_FLAG_GROUP ? "| **%s** |" : "| `--%s",
                 t[i].name);
        CHECK(strstr(md, want) != NULL);
    }
    for (const char *line = help; *line;) {
        size_t len = strcspn(line, "\n");
        CHECK(len <= 79);
        line += len + (line[len] == '\n');
    }
    FILE *full = fopen("/dev/full", "w");
    if (full) { /* a --help nobody could read is not a success */
        CHECK_EQ_INT(lc_config_help(full), -1);
        fclose(full);
    }
    free(help);
    free(md);
}

/* README.md's flag list is the --flags-markdown output, byte for byte. */
static void test_readme_block_is_the_generated_table(void) {
    static const char begin[] = "<!-- flags:begin -->\n\n", end[] = "\n<!-- flags:end -->";
    FILE *f = fopen(LC_SOURCE_ROOT "/README.md", "r");
    CHECK(f != NULL);
    if (!f) return;
    static char readme[1 << 20];
    size_t len = fread(readme, 1, sizeof(readme) - 1, f);
    fclose(f);
    readme[len] = '\0';
    char *a = strstr(readme, begin), *b = a ? strstr(a, end) : NULL;
    CHECK(a && b);
    if (!a || !b) return;
    a += strlen(begin);
    CHECK_EQ_INT(parse("--flags-markdown", NULL), 1);
    int same = (size_t)(b - a) == strlen(out_text) && memcmp(a, out_text, (size_t)(b - a)) == 0;
    if (!same)
        fprintf(stderr, "README.md's flag list is stale: put the output of "
                        "`livecart-server --flags-markdown` between its markers\n");
    CHECK(same);
}

int main(void) {
    RUN(test_defaults_are_the_documented_ones);
    RUN(test_every_row_is_complete_and_its_default_reads_back);
    RUN(test_every_number_is_range_checked);
    RUN(test_the_ranges_by_hand);
    RUN(test_strings_are_non_empty_and_fit);
    RUN(test_trusted_proxy_repeats_up_to_16);
    RUN(test_redis_host_port);
    RUN(test_post_processing);
    RUN(test_bad_command_lines);
    RUN(test_help_and_markdown_list_every_flag);
    RUN(test_readme_block_is_the_generated_table);
    free(out_text);
    free(err_text);
    return lc_test_done();
}
