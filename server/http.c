#include "http.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "api.h"
#include "metrics.h"
#include "static.h"
#include "store.h"

int lc_http_is_head(struct lws *wsi) { return lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0; }

int lc_http_begin(struct lws *wsi, unsigned status, const char *ctype, size_t n, uint8_t **p, uint8_t *end) {
    /* no length here: lws then says "connection: close" and closes once
     * the answer is out (after any partial write is flushed) */
    if (lws_add_http_common_headers(wsi, status, ctype, LWS_ILLEGAL_HTTP_CONTENT_LEN, p, end)) return -1;
    return lws_add_http_header_content_length(wsi, n, p, end) ? -1 : 0;
}

/* A whole response in one write: headers, then the body (small: health,
 * metrics and API answers are a few KiB). */
int lc_http_send(struct lws *wsi, unsigned status, const char *ctype, const char *body, size_t n,
                 const char *hname, const char *hval) {
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lc_http_begin(wsi, status, ctype, n, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store",
                                     8, &p, end) ||
        (hname && lws_add_http_header_by_name(wsi, (const unsigned char *)hname, (const unsigned char *)hval,
                                              (int)strlen(hval), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (lc_http_is_head(wsi) || n == 0) return 0;
    uint8_t *b = malloc(LWS_PRE + n + 1);
    if (!b) return -1;
    memcpy(b + LWS_PRE, body, n);
    int rc = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) == (int)n ? 0 : -1;
    free(b);
    return rc;
}

int lc_http_reply(struct lws *wsi, unsigned status, const char *body) {
    return lc_http_send(wsi, status, "text/plain; charset=utf-8", body, strlen(body), NULL, NULL);
}

int lc_http_serve(lc_server_t *srv, struct lws *wsi, const char *path, void **slot) {
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
    } else if (strcmp(path, "/metrics") == 0) {
        lc_buf_t b = LC_BUF_INIT;
        lc_metrics_render(srv, &b);
        rc = lc_http_send(wsi, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? (const char *)b.p : "",
                          b.len, NULL, NULL);
        lc_buf_free(&b);
    } else if (strcmp(path, "/live") == 0) {
        rc = lc_http_reply(wsi, 400, "WebSocket upgrade required: ws://HOST:PORT/live?room=ROOM\n");
    } else if (strncmp(path, "/api/", 5) == 0) {
        return lc_api_serve(srv, wsi, path, slot);
    } else {
        return lc_static_serve(srv, wsi, path);
    }
    if (rc != 0) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
