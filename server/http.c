#include "http.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "store.h"

int lc_http_reply(struct lws *wsi, unsigned status, const char *body) {
    uint8_t buf[LWS_PRE + 1024];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    size_t n = strlen(body);
    if (n > 256) n = 256;
    if (lws_add_http_common_headers(wsi, status, "text/plain; charset=utf-8", n, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store",
                                     8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    memcpy(start, body, n);
    if (lws_write(wsi, start, n, LWS_WRITE_HTTP_FINAL) != (int)n) return -1;
    return 0;
}

int lc_http_serve(lc_server_t *srv, struct lws *wsi, const char *path) {
    int rc;
    if (strcmp(path, "/healthz") == 0) {
        /* 503 while draining or while Redis is unreachable, so a load
         * balancer stops sending viewers here. */
        if (srv->draining)
            rc = lc_http_reply(wsi, 503, "draining\n");
        else if (!lc_store_up(srv->store) || !lc_store_sub_up(srv->store))
            rc = lc_http_reply(wsi, 503, "redis unavailable\n");
        else if (lc_auth_open_mode(srv))
            rc = lc_http_reply(wsi, 200, "ok\nopen mode: no token auth, roles as declared\n");
        else
            rc = lc_http_reply(wsi, 200, "ok\n");
    } else if (strcmp(path, "/live") == 0) {
        rc = lc_http_reply(wsi, 400, "WebSocket upgrade required: ws://HOST:PORT/live?room=ROOM\n");
    } else {
        rc = lc_http_reply(wsi, 404, "not found\n");
    }
    if (rc != 0) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int is_trusted(const char *ip, size_t n, char trusted[][48], int ntrusted) {
    for (int i = 0; i < ntrusted; i++)
        if (strlen(trusted[i]) == n && memcmp(trusted[i], ip, n) == 0) return 1;
    return 0;
}

int lc_http_client_ip(const char *peer, const char *xff, char trusted[][48], int ntrusted, char *out,
                      size_t cap) {
    if (cap == 0) return 0;
    snprintf(out, cap, "%s", peer ? peer : "");
    if (!xff || !*xff || !is_trusted(peer, strlen(peer), trusted, ntrusted)) return 0;
    /* walk the list from the right, past our own proxies */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t')) a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t')) b--;
        if (b > a && !is_trusted(xff + a, b - a, trusted, ntrusted)) {
            size_t n = b - a < cap - 1 ? b - a : cap - 1;
            /* only characters an address can have: never log or key on junk */
            for (size_t i = 0; i < n; i++) {
                char ch = xff[a + i];
                int okc = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
                          ch == '.' || ch == ':';
                if (!okc) return 0; /* malformed: keep the peer */
            }
            memcpy(out, xff + a, n);
            out[n] = '\0';
            return 0;
        }
        end = start ? start - 1 : 0;
    }
    return 0;
}
