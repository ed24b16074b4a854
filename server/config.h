/*
 * lc_config: the shard's settings, from the command line. Every default is
 * a working one: `livecart-server` alone serves on 127.0.0.1:8080 against a
 * local Redis.
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
    char shard[128];
    unsigned tick_ms;
    unsigned share_ttl_ms;    /* a viewer share not refreshed this long expires */
    unsigned ping_secs;       /* idle time before a WebSocket ping */
    unsigned write_timeout_ms; /* a socket that takes no bytes this long while we wait is cut */
    unsigned sndbuf;          /* SO_SNDBUF per connection (bytes), 0: the kernel's autotuning */
    unsigned history;         /* stream cap and largest resume */
    unsigned welcome_history; /* comments in a plain welcome */
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
    char tls_cert[256], tls_key[256];
    char web_root[256];       /* static pages; empty: the installed or source web/ */
    char api_key_file[256];   /* publish API key; empty: env LIVECART_API_KEY or API off */
} lc_config_t;

/* Parses argv into c (defaults first). Returns 0 to run, 1 when --help or
 * --version printed and the process should exit 0, -1 on a bad flag (the
 * reason printed to err). */
int lc_config_parse(lc_config_t *c, int argc, char **argv, FILE *out, FILE *err);

#endif
