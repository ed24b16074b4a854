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
