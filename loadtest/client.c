#include "client.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define RX_BUFFER 1024 /* per connection in lws: keep 100k connections affordable */

int lt_target_parse(lt_target_t *t, const char *url) {
    memset(t, 0, sizeof(*t));
    const char *p = url;
    if (strncmp(p, "ws://", 5) == 0) p += 5;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    if (!colon || (slash && slash < colon) || (size_t)(colon - p) >= sizeof(t->host)) return -1;
    memcpy(t->host, p, (size_t)(colon - p));
    t->port = atoi(colon + 1);
    snprintf(t->path, sizeof(t->path), "%s", slash ? slash : "/live");
    return t->port > 0 ? 0 : -1;
}

static uint32_t next_mask(lt_client_t *cl) {
    uint32_t x = cl->mask_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return cl->mask_state = x;
}

size_t lt__frame(lt_client_t *cl, uint8_t *out, int op, const uint8_t *p, size_t n) {
    size_t h = 0;
    out[h++] = (uint8_t)(0x80 | op);
    if (n < 126) {
        out[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t m = next_mask(cl);
    uint8_t key[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
    memcpy(out + h, key, 4);
    h += 4;
    for (size_t i = 0; i < n; i++) out[h + i] = p[i] ^ key[i & 3];
    return h + n;
}

void lt__conn_free(lt_conn_t *c) {
    lc_buf_free(&c->out);
    lc_buf_free(&c->rx);
    free(c);
}

static int on_writeable(lt_conn_t *c) {
    lt_client_t *cl = c->cl;
    size_t n = 0;
    while (c->out_off < c->out.len) {
        uint32_t len;
        memcpy(&len, c->out.p + c->out_off, 4);
        if (n + len + 14 > LT__BATCH && n) break;
        if (len + 14 > LT__BATCH) { /* one big frame on its own */
            uint8_t *big = malloc(len + 14);
            if (!big) return -1;
            size_t fl = lt__frame(cl, big, c->fmt == LC_FMT_MSGPACK ? 2 : 1, c->out.p + c->out_off + 4, len);
            int rc = lws_write(c->wsi, big, fl, LWS_WRITE_HTTP);
            free(big);
            if (rc < 0) return -1;
            cl->st.bytes_out += fl;
        } else {
            n += lt__frame(cl, cl->wbuf + n, c->fmt == LC_FMT_MSGPACK ? 2 : 1, c->out.p + c->out_off + 4, len);
        }
        c->out_off += 4 + len;
        cl->st.frames_out++;
    }
    if (n) {
        if (lws_write(c->wsi, cl->wbuf, n, LWS_WRITE_HTTP) < 0) return -1;
        cl->st.bytes_out += n;
    }
    if (c->out_off >= c->out.len) {
        lc_buf_reset(&c->out);
        c->out_off = 0;
        if (c->closing) {
            lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
    } else {
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

static void deliver(lt_conn_t *c, const uint8_t *p, size_t n) {
    lt_client_t *cl = c->cl;
    lc_msg_t m;
    lc_proto_err_t err;
    cl->st.frames_in++;
    cl->st.bytes_in += n;
    if (c->raw || c->fmt == LT_FMT_RAW) {
        if (c->ops->on_raw) c->ops->on_raw(c, p, n);
        return;
    }
    if (lc_msg_decode(&m, (lc_fmt_t)c->fmt, LC_DIR_S2C, p, n, &err) != 0) {
        cl->st.decode_errors++;
        return;
    }
    if (c->ops->on_msg) c->ops->on_msg(c, &m, n);
    lc_msg_clear(&m);
}

/* A refused upgrade (HTTP 503 and Retry-After, say): lws still holds the
 * response's headers when it reports the failure. */
static void note_refusal(lt_conn_t *c, struct lws *wsi) {
    char ra[16];
    c->http_status = (int)lws_http_client_http_response(wsi);
    if (lws_hdr_copy(wsi, ra, sizeof(ra), WSI_TOKEN_HTTP_RETRY_AFTER) > 0) c->retry_after = atoi(ra);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    lt_conn_t *c = lws_get_opaque_user_data(wsi);
    lt_client_t *cl = c ? c->cl : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->opened = 1;
        cl->st.open++;
        cl->st.opened++;
        if (c->ops->on_open) c->ops->on_open(c);
        if (c->out.len) lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        int final = lws_is_final_fragment(wsi);
        if (!c->rx.len && final) {
            deliver(c, in, len);
            return 0;
        }
        if (lc_buf_append(&c->rx, in, len) != 0) return -1;
        if (final) {
            deliver(c, c->rx.p, c->rx.len);
            lc_buf_reset(&c->rx);
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return c ? on_writeable(c) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && len >= 2) c->close_code = ((uint8_t *)in)[0] << 8 | ((uint8_t *)in)[1];
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c) note_refusal(c, wsi);
        if (c && c->in_connect) {
            c->failed = 1; /* lt_conn_open reports it by returning NULL */
            lws_set_opaque_user_data(wsi, NULL);
        } else if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            cl->st.failed++;
            if (c->ops->on_close) c->ops->on_close(c, 0, in ? (const char *)in : "connect failed");
            lt__conn_free(c);
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        /* a connect still pending when the context goes away (the end of a
         * run) gets neither CONNECTION_ERROR nor CLOSED: free it here */
        if (c && !c->in_connect) {
            lws_set_opaque_user_data(wsi, NULL);
            cl->st.failed++;
            if (c->ops->on_close) c->ops->on_close(c, 0, "closed before connecting");
            lt__conn_free(c);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c) {
            lws_set_opaque_user_data(wsi, NULL);
            cl->st.open--;
            cl->st.closed++;
            if (c->ops->on_close) c->ops->on_close(c, c->close_code ? c->close_code : 1006, NULL);
            lt__conn_free(c);
        }
        return 0;
    default:
        return 0;
    }
}

void lt_client_set_deflate(lt_client_t *cl, int on) { cl->deflate = (uint8_t)(on != 0); }

lt_client_t *lt_client_create(uv_loop_t *loop) {
    lt_client_t *cl = calloc(1, sizeof(*cl));
    if (!cl) return NULL;
    cl->wbuf = malloc(LT__BATCH);
    cl->loop = loop;
    cl->loops[0] = loop;
    cl->mask_state = 0x9e3779b9u ^ (uint32_t)uv_hrtime();
    const char *names[2] = {"livecart.json", "livecart.msgpack"};
    for (int i = 0; i < 2; i++) {
        cl->protocols[i].name = names[i];
        cl->protocols[i].callback = callback;
        cl->protocols[i].rx_buffer_size = RX_BUFFER;
        cl->protocols[i].tx_packet_size = 65536;
        cl->protocols[i].id = (unsigned)i;
    }
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = cl->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = cl->loops;
    /* a handshake that takes this long on loopback is stuck (a shard killed
     * mid-accept): fail it, so that the scenario's retry logic reconnects */
    info.timeout_secs = 10;
    info.connect_timeout_secs = 10;
    cl->ctx = cl->wbuf ? lws_create_context(&info) : NULL;
    if (!cl->ctx) {
        free(cl->wbuf);
        free(cl);
        return NULL;
    }
    return cl;
}

void lt_client_stop(lt_client_t *cl) {
    lt__lean_stop(cl);
    lws_context_destroy(cl->ctx);
}

void lt_client_free(lt_client_t *cl) {
    lt__lean_stop(cl);
    lws_context_destroy(cl->ctx);
    lc_buf_free(&cl->scratch);
    free(cl->wbuf);
    cl->wbuf = NULL;
    lt__lean_client_free(cl);
}

void lt__conn_path(const lt_target_t *t, const char *room, char *path, size_t cap) {
    const char *tpl = strstr(t->path, "{room}");
    if (tpl)
        snprintf(path, cap, "%.*s%s%s", (int)(tpl - t->path), t->path, room, tpl + 6);
    else
        snprintf(path, cap, "%s?room=%s", t->path, room);
}

/* A connection's common part, for either transport. */
static lt_conn_t *conn_new(lt_client_t *cl, int fmt, const lt_conn_ops_t *ops, void *user) {
    lt_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->cl = cl;
    c->ops = ops;
    c->user = user;
    c->fmt = fmt;
    return c;
}

lt_conn_t *lt_conn_open_lean(lt_client_t *cl, const lt_target_t *t, const char *room, int fmt,
                             const char *src, const lt_conn_ops_t *ops, void *user) {
    lt_conn_t *c = conn_new(cl, fmt, ops, user);
    if (!c) return NULL;
    char path[256];
    lt__conn_path(t, room, path, sizeof(path));
    if (lt__lean_open(c, t, path, src) != 0) {
        cl->st.failed++;
        lt__conn_free(c);
        return NULL;
    }
    return c;
}

lt_conn_t *lt_conn_open(lt_client_t *cl, const lt_target_t *t, const char *room, int fmt,
                        const char *src, const lt_conn_ops_t *ops, void *user) {
    lt_conn_t *c = conn_new(cl, fmt, ops, user);
    if (!c) return NULL;
    char path[256];
    lt__conn_path(t, room, path, sizeof(path));
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof(i));
    i.context = cl->ctx;
    i.address = t->host;
    i.port = t->port;
    i.path = path;
    i.host = t->host;
    i.origin = t->host;
    i.protocol = fmt == LT_FMT_RAW ? NULL : fmt == LC_FMT_MSGPACK ? "livecart.msgpack" : "livecart.json";
    i.local_protocol_name = fmt == LC_FMT_MSGPACK ? "livecart.msgpack" : "livecart.json";
    i.iface = src;
    i.opaque_user_data = c;
    i.pwsi = &c->wsi;
    c->in_connect = 1;
    struct lws *w = lws_client_connect_via_info(&i);
    c->in_connect = 0;
    if (!w || c->failed) {
        cl->st.failed++;
        lt__conn_free(c);
        return NULL;
    }
    return c;
}

static int queue_payload(lt_conn_t *c, const void *p, size_t n) {
    if (c->lean) return lt__lean_send(c, p, n);
    uint32_t len = (uint32_t)n;
    if (lc_buf_reserve(&c->out, 4 + n) != 0) return -1;
    lc_buf_append(&c->out, &len, 4);
    lc_buf_append(&c->out, p, n);
    if (c->opened) lws_callback_on_writable(c->wsi);
    return 0;
}

int lt_conn_send(lt_conn_t *c, const lc_msg_t *m) {
    if (c->closing || c->fmt == LT_FMT_RAW) return -1;
    lc_buf_t *s = &c->cl->scratch;
    lc_buf_reset(s);
    if (lc_msg_encode(m, (lc_fmt_t)c->fmt, s) != 0) return -1;
    return queue_payload(c, s->p, s->len);
}

int lt_conn_send_raw(lt_conn_t *c, const void *p, size_t n) { return c->closing ? -1 : queue_payload(c, p, n); }

void lt_conn_close(lt_conn_t *c) {
    if (c->closing) return;
    if (c->lean) {
        lt__lean_close(c);
        return;
    }
    c->closing = 1;
    if (c->opened) lws_callback_on_writable(c->wsi);
}

void *lt_conn_user(const lt_conn_t *c) { return c->user; }
void lt_conn_set_user(lt_conn_t *c, void *user) { c->user = user; }
void lt_conn_set_raw(lt_conn_t *c, int raw) { c->raw = raw; }
int lt_conn_set_peek(lt_conn_t *c, uint32_t n) { return c->lean ? lt__lean_set_peek(c, n) : -1; }
int lt_conn_is_lean(const lt_conn_t *c) { return c->lean != NULL; }
int lt_conn_fmt(const lt_conn_t *c) { return c->fmt; }
int lt_conn_http_status(const lt_conn_t *c) { return c->http_status; }
int lt_conn_retry_after(const lt_conn_t *c) { return c->retry_after; }
const lt_client_stats_t *lt_client_stats(const lt_client_t *cl) { return &cl->st; }
