/*
 * lc_config: the shard's settings, from the command line. Every default is
 * a working one: `livecart-server` alone serves on 127.0.0.1:8080 against a
 * local Redis.
 *
 * Every flag is one row of one table (config.c, lc__flags): the row says
 * which member it sets, what it accepts, its default and its help, and that
 * row alone drives parsing, the defaults, --help, --flags-markdown (the list
 * in README.md, checked by tests/unit/test-config.c) and lc_config_get. A
 * new flag is a new member here and a new row there, nothing else.
 */
#ifndef LC_CONFIG_H
#define LC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct lc_config {
    int port;
    char bind[64];
    char redis_host[256]; /* numeric after lc_config_parse resolved it */
    int redis_port;
    char redis_cluster[512];  /* --redis-cluster as given; empty: one Redis */
#define LC_CLUSTER_SEEDS_MAX 8
    char cluster_hosts[LC_CLUSTER_SEEDS_MAX][64]; /* its nodes, numeric */
    int cluster_ports[LC_CLUSTER_SEEDS_MAX];
    int ncluster;
    unsigned ack_replicas;    /* with a cluster: durable answers wait for this many replicas */
    unsigned ack_timeout_ms;
    char shard[128];
    unsigned tick_ms;
    unsigned share_ttl_ms;    /* a viewer share not refreshed this long expires */
    unsigned ping_secs;       /* idle time before a WebSocket ping */
    unsigned write_timeout_ms; /* a socket that takes no bytes this long while we wait is cut */
    unsigned deflate;          /* 1: offer permessage-deflate, frames compressed once (deflate.c) */
    unsigned deflate_level;    /* zlib level of that compression */
    unsigned write_delay_ms;   /* a woken connection waits this long for more before writing (conn.c) */
    unsigned sndbuf;          /* SO_SNDBUF per connection (bytes), 0: the kernel's autotuning */
    unsigned history;         /* stream cap and largest resume */
    unsigned welcome_history; /* comments in a plain welcome (not a flag) */
    unsigned ring_slots;
    size_t ring_bytes;
    unsigned max_gaps;
    unsigned linger_ms;       /* keep a room subscribed this long after it emptied */
    unsigned redis_timeout_ms;
    unsigned drain_ms;        /* shutdown: reconnect hints and closes spread over this */
    unsigned max_accept_rate; /* upgrades per second, 0: off */
    double buy_rate;          /* buys (and cancels, joins) per second per connection */
    double buy_burst;
    unsigned cancel_window_s; /* a buyer may cancel this long after the order */
    unsigned req_ttl_s;       /* how long a buy's answer is kept for retries */
    char jwt_key_file[256];   /* empty: open mode (roles as declared) */
    unsigned jwt_skew;        /* seconds of clock skew allowed on exp */
    unsigned max_token_ttl_s; /* tokens whose exp is further ahead are refused, 0: no cap */
    char blocklist[256];      /* word filter file, reloaded on SIGHUP */
    double comment_rate, comment_burst, like_rate, like_burst;
    unsigned abuse_close;     /* rate-limited frames in a row before closing 1008 */
    unsigned max_conns_per_ip; /* 0: off */
    char trusted[16][48];     /* proxies whose X-Forwarded-For is believed */
    int ntrusted;
    unsigned sale_max_per_ip; /* units per IP per sale across shards, 0: off */
    unsigned audit_fast_ms;   /* an ok buy this soon after the sale opened is audited */
    unsigned audit_ip_users;  /* more distinct buyers than this from one IP are audited */
    unsigned answer_sold_out; /* 1: known sold-out/closed/gone answered at the shard (sale_req.c) */
    char tls_cert[256], tls_key[256];
    char web_root[256];       /* static pages; empty: the installed or source web/ */
    char api_key_file[256];   /* publish API key; empty: env LIVECART_API_KEY or API off */
} lc_config_t;

/* What a flag's value is; each kind has one parser and one printer. */
typedef enum lc_flag_kind {
    LC_FLAG_GROUP,    /* not a flag: a heading, for the rows after it */
    LC_FLAG_INT,      /* an int member, whole number in [min, max] */
    LC_FLAG_UINT,     /* an unsigned member, likewise */
    LC_FLAG_SIZE,     /* a size_t member, likewise */
    LC_FLAG_RATE,     /* a double member, set from a whole number in [min, max] */
    LC_FLAG_STR,      /* a char[] member: shorter than it, non-empty unless LC_FLAG_EMPTY_OK */
    LC_FLAG_LIST,     /* repeatable: char[max][size] member plus an int count at off2 */
    LC_FLAG_HOSTPORT, /* HOST:PORT: host into char[size] at off, port into the int at off2 */
    LC_FLAG_HELP,     /* actions: print, and lc_config_parse returns 1 */
    LC_FLAG_VERSION,
    LC_FLAG_MARKDOWN,
} lc_flag_kind_t;

enum {
    LC_FLAG_ZERO_OK = 1,  /* numbers: 0 (off) is accepted too, below min */
    LC_FLAG_EMPTY_OK = 2, /* strings: "" is accepted */
    LC_FLAG_NO_SPACE = 4, /* strings: no blanks (it goes into Redis keys) */
};

typedef struct lc_flag {
    const char *name; /* without "--"; for a group, its heading */
    const char *arg;  /* the value's name in --help (N, FILE), NULL for actions */
    lc_flag_kind_t kind;
    unsigned opts;      /* LC_FLAG_ZERO_OK ... */
    size_t off, size;   /* the member set, and its size (a list: one entry's) */
    size_t off2;        /* a list's count, a HOST:PORT's port */
    long long min, max; /* numbers: the range; a list: max is how many */
    const char *def;    /* the default, parsed like a command-line value; NULL: none */
    const char *def_doc; /* the default in words, when it is not a plain value */
    const char *help;
} lc_flag_t;

/* Parses argv into c (defaults first). Returns 0 to run, 1 when --help,
 * --version or --flags-markdown printed and the process should exit 0, -1
 * on a bad flag (the reason printed to err). */
int lc_config_parse(lc_config_t *c, int argc, char **argv, FILE *out, FILE *err);

/* The flag table, group rows included; *n is set to its length. */
const lc_flag_t *lc_config_flags(size_t *n);

/* --help and --flags-markdown. Return 0, -1 when out could not be written. */
int lc_config_help(FILE *out);
int lc_config_markdown(FILE *out);

/* The value of flag `name` (no "--") in c, written as the command line
 * takes it (a list comma-separated). Returns 0, -1 when there is no such
 * flag or cap is too small. */
int lc_config_get(const lc_config_t *c, const char *name, char *buf, size_t cap);

#endif
