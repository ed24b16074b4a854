/*
 * The upgrade checks. See upgrade.h.
 */
#include "upgrade.h"

#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "httpparse.h"
#include "map.h"
#include "room.h"

struct lc_upgrade {
    lc_server_t *srv;
    lc_map_t *ips;       /* client IP -> open connections (per-IP cap) */
    lc_bucket_t accepts; /* --max-accept-rate */
};

lc_upgrade_t *lc_upgrade_create(lc_server_t *srv) {
    lc_upgrade_t *u = calloc(1, sizeof(*u));
    if (!u || !(u->ips = lc_map_create())) {
        free(u);
        return NULL;
    }
    u->srv = srv;
    return u;
}

void lc_upgrade_destroy(lc_upgrade_t *u) {
    if (!u) return;
    lc_map_destroy(u->ips);
    free(u);
}

/* Copies the first `room` URL argument (lws has url-decoded it). Returns
 * its length, or -1 when absent or too long. */
int lc_upgrade_room(struct lws *wsi, char *out, size_t cap) {
    char frag[128];
    for (int i = 0; i < 32; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) return -1;
        if (n >= 5 && memcmp(frag, "room=", 5) == 0) {
            if ((size_t)(n - 5) >= cap) return -1;
            memcpy(out, frag + 5, (size_t)(n - 5));
            out[n - 5] = '\0';
            return n - 5;
        }
    }
    return -1;
}

void lc_upgrade_client_ip(lc_upgrade_t *u, struct lws *wsi, char *out, size_t cap) {
    const lc_config_t *cfg = &u->srv->cfg;
    char peer[64] = "", xff[256] = "";
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (cfg->ntrusted && lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) < 0) xff[0] = '\0';
    lc_http_client_ip(peer, xff, (char(*)[48])cfg->trusted, cfg->ntrusted, out, cap);
}

static uintptr_t ip_count(lc_upgrade_t *u, const char *ip) {
    return (uintptr_t)lc_map_get(u->ips, ip, strlen(ip));
}

void lc_upgrade_count(lc_upgrade_t *u, const char *ip, int d) {
    uintptr_t was = ip_count(u, ip);
    if (d < 0 && was == 0) return; /* its +1 found no memory: it was never counted */
    uintptr_t n = was + (uintptr_t)(intptr_t)d;
    if (n == 0)
        lc_map_del(u->ips, ip, strlen(ip));
    else if (lc_map_put(u->ips, ip, strlen(ip), (void *)n) != 0 && d > 0)
        lc_map_del(u->ips, ip, strlen(ip)); /* out of memory: this address goes uncounted */
}

/* Refuses an upgrade with a real HTTP status. The response is written
 * whole by us: at this point lws has not recorded the request's HTTP
 * version and would answer "HTTP/1.0", which WebSocket clients reject
 * before they read the status. */
static int refuse(lc_server_t *srv, struct lws *wsi, unsigned status, const char *body) {
    static const struct {
        unsigned code;
        const char *text, *header;
    } texts[] = {{400, "Bad Request", ""},
                 {404, "Not Found", ""},
                 {426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n"},
                 {429, "Too Many Requests", "Retry-After: 1\r\n"},
                 {503, "Service Unavailable", "Retry-After: 1\r\n"}};
    const char *text = "Error", *header = "";
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].code == status) text = texts[i].text, header = texts[i].header;
    char buf[LWS_PRE + 512];
    char *p = buf + LWS_PRE;
    int n = snprintf(p, 512,
                     "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n%s",
                     status, text, strlen(body), header, body);
    srv->m.upgrades_refused++;
    if (n < 0 || n >= 512) return -1;
    if (lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_HTTP_FINAL) != n) return -1;
    return 1;
}

/* The request itself: RFC 6455 4.2.1 and 4.4 (lws 4.1 answers 101 to any
 * Sec-WebSocket-Version and any non-empty key: ours to enforce), the path,
 * the room, the subprotocol. */
static int check_request(lc_server_t *srv, struct lws *wsi) {
    char hv[256], room[80];
    if (lws_hdr_copy(wsi, hv, sizeof(hv), WSI_TOKEN_VERSION) != 2 || strcmp(hv, "13") != 0)
        return refuse(srv, wsi, 426, "unsupported WebSocket version: use 13\n");
    int kn = lws_hdr_copy(wsi, hv, sizeof(hv), WSI_TOKEN_KEY);
    if (kn <= 0 || !lc_http_ws_key_valid(hv, (size_t)kn)) return refuse(srv, wsi, 400, "bad Sec-WebSocket-Key\n");
    if (lws_hdr_copy(wsi, hv, sizeof(hv), WSI_TOKEN_GET_URI) <= 0 || strcmp(hv, "/live") != 0)
        return refuse(srv, wsi, 404, "not found: connect to /live?room=ROOM\n");
    int n = lc_upgrade_room(wsi, room, sizeof(room));
    if (n < 0 || !lc_room_name_valid(room, (size_t)n))
        return refuse(srv, wsi, 400, "bad room: 1-64 characters of A-Z a-z 0-9 _ -\n");
    n = lws_hdr_copy(wsi, hv, sizeof(hv), WSI_TOKEN_PROTOCOL);
    if (n < 0 || !lc_http_subprotocol_ok(hv))
        return refuse(srv, wsi, 400, "unsupported subprotocol: use livecart.json or livecart.msgpack\n");
    return 0;
}

int lc_upgrade_confirm(lc_upgrade_t *u, struct lws *wsi) {
    lc_server_t *srv = u->srv;
    int rc = check_request(srv, wsi);
    if (rc) return rc;
    if (srv->draining) return refuse(srv, wsi, 503, "draining\n");
    /* A reconnect storm (every viewer of a shard that went away, at once)
     * must not knock this shard over: past the rate, come back in a second. */
    if (srv->cfg.max_accept_rate) {
        double rate = srv->cfg.max_accept_rate;
        if (!lc_bucket_take(&u->accepts, rate, rate, uv_now(srv->loop))) {
            srv->m.accept_refused++;
            return refuse(srv, wsi, 503, "busy: retry\n");
        }
    }
    if (srv->cfg.max_conns_per_ip) {
        char ip[INET6_ADDRSTRLEN]; /* as lc_conn_t.ip: the same address is counted */
        lc_upgrade_client_ip(u, wsi, ip, sizeof(ip));
        if (ip_count(u, ip) >= srv->cfg.max_conns_per_ip) {
            srv->m.ip_refused++;
            return refuse(srv, wsi, 429, "too many connections from this address\n");
        }
    }
    return 0;
}
