/*
 * The network glue: libwebsockets on the server's libuv loop (a foreign
 * loop), the upgrade checks, frame reassembly, and the write path.
 *
 * Write path. Every frame is stored already framed (lc_frame), so a
 * WRITEABLE callback copies the connection's queued replies and then its
 * pending ring entries, back to back, into one scratch buffer and hands
 * them to the socket in one lws_write(LWS_WRITE_HTTP) -- a raw write, since
 * the bytes are complete WebSocket frames. One send() carries many frames
 * (the ring example's one-message-per-WRITEABLE costs a syscall and a
 * poll change per message per viewer). libwebsockets keeps ordering with
 * its own pings and close frames because it queues any unsent remainder
 * and sends it before anything else.
 */
#include "net.h"

#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "httpparse.h"
#include "log.h"
#include "room.h"
#include "session.h"

/* lws keeps one receive buffer of this size per connection: it is the main
 * per-connection memory cost, so it is small; a larger message arrives in
 * pieces and is reassembled (lazily allocated) up to LC_MAX_CLIENT_MSG. */
#define RX_BUFFER 1024

/* What lws keeps per connection for us. */
typedef struct pss {
    lc_conn_t *c;  /* NULL once closed */
    int counted;   /* in srv->ws_alive until lws frees the wsi */
    void *http;    /* an HTTP request answered later (api.c) */
} pss_t;

typedef struct net {
    struct lws_protocols protocols[3];
    lws_retry_bo_t retry;
    void *loops[1];
    uv_check_t flush;          /* after every poll phase: lc_net_flush */
    lc_conn_t *fhead, *ftail;  /* connections with something to write */
    lc_frame_t *ping;          /* a WebSocket ping, framed once */
    lc_bucket_t accepts;       /* --max-accept-rate */
} net_t;

/* ---- the lc_conn interface ---- */

void lc_conn_unref(lc_conn_t *c) {
    if (--c->refs) return;
    free(c->rx);
    free(c);
}

static void queue_free(lc_conn_t *c) {
    while (c->qhead) {
        lc_qitem_t *q = c->qhead;
        c->qhead = q->next;
        lc_frame_unref(q->f);
        free(q);
    }
    c->qtail = NULL;
    c->qbytes = 0;
}

/* Asks lws for a WRITEABLE callback: the path for backpressure (lws holds
 * unsent bytes) and for closing. The wait is timed (lc_net_keepalive): a
 * socket that takes nothing for --write-timeout-ms is cut. */
static void want_writeable(lc_conn_t *c) {
    if (!c->wsi || c->want_write) return;
    c->want_write = 1;
    c->stall_ms = uv_now(c->srv->loop);
    c->stall_outq = UINT32_MAX; /* not looked at yet */
    lws_callback_on_writable(c->wsi);
}

/* Cuts c now, without a close frame: its socket takes no bytes, or its
 * peer does not answer, so a close frame could not be delivered either.
 * SO_LINGER 0 makes the close an RST, so that the kernel drops what it
 * still holds for the peer at once instead of retrying it for minutes;
 * lws closes the socket on its next service without flushing its own
 * buffered bytes (a "violent" timeout close), and the connection is freed
 * through LWS_CALLBACK_CLOSED as usual. */
static void hard_close(lc_conn_t *c) {
    if (!c->wsi || c->killed) return;
    c->killed = 1;
    int fd = lws_get_socket_fd(c->wsi);
    struct linger lg = {1, 0};
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
        lc_log("net: SO_LINGER: %s", strerror(errno));
    c->close_code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE; /* nothing more is queued */
    c->close_sent = 1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    /* On a foreign libuv loop that timer is only looked at after lws's next
     * own event -- on a quiet shard, up to 30 s later: wake lws now. */
    lws_cancel_service(c->srv->lws);
}

/* Something is ready for c: queue it for the end of this loop iteration,
 * when lc_net_flush writes it directly (see there). */
void lc_conn_wake(lc_conn_t *c) {
    if (!c->wsi || c->want_write || c->flushing) return;
    net_t *net = c->srv->net;
    c->flushing = 1;
    c->fnext = NULL;
    lc_conn_ref(c);
    if (net->ftail)
        net->ftail->fnext = c;
    else
        net->fhead = c;
    net->ftail = c;
}

void lc_conn_close(lc_conn_t *c, uint16_t code, const char *why) {
    if (!c->wsi || c->close_code) return;
    c->close_code = code;
    c->close_why = why;
    free(c->rx);
    c->rx = NULL;
    c->rxlen = 0;
    lc_conn_wake(c);
}

void lc_conn_send(lc_conn_t *c, lc_frame_t *f) {
    if (!c->wsi || c->close_code) return;
    uint32_t len = f->len[c->fmt];
    if (c->qbytes && c->qbytes + len > LC_CONN_QUEUE_MAX) { /* one big welcome always fits */
        /* The client does not read its own replies: stop, do not buffer. */
        c->srv->m.queue_closed++;
        queue_free(c);
        lc_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many unread replies");
        return;
    }
    lc_qitem_t *q = malloc(sizeof(*q));
    if (!q) {
        lc_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    q->next = NULL;
    q->f = lc_frame_ref(f);
    if (c->qtail)
        c->qtail->next = q;
    else
        c->qhead = q;
    c->qtail = q;
    c->qbytes += len;
    lc_conn_wake(c);
}

void lc_conn_send_msg(lc_conn_t *c, const lc_msg_t *m) {
    if (!c->wsi) return;
    lc_frame_t *f = lc_frame_from_msg_fmt(m, (lc_fmt_t)c->fmt, &c->srv->scratch);
    if (!f) {
        lc_log("conn: cannot encode a %s message", lc_msg_type_name(m->type));
        return;
    }
    lc_conn_send(c, f);
    lc_frame_unref(f);
}

void lc_conn_send_error(lc_conn_t *c, lc_err_code_t code, const char *fmt, ...) {
    char text[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->srv->m.errors[code]++;
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_ERROR);
    lc_msg_set(&m, code, lc_cstr(lc_err_code_name(code)));
    lc_msg_set(&m, message, lc_cstr(lc_utf8_valid(text, strlen(text)) ? text : "invalid input"));
    lc_conn_send_msg(c, &m);
}

/* ---- upgrade checks ---- */

/* Copies the first `room` URL argument (lws has url-decoded it). Returns
 * its length, or -1 when absent or too long. */
static int url_room(struct lws *wsi, char *out, size_t cap) {
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

/* 1 if the client offers no subprotocol or at least one we speak. */
static int subprotocol_ok(struct lws *wsi) {
    char buf[256];
    int n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_PROTOCOL);
    return n < 0 ? 0 : lc_http_subprotocol_ok(buf);
}

/* Refuses an upgrade with a real HTTP status. The response is written
 * whole by us: at this point lws has not recorded the request's HTTP
 * version and would answer "HTTP/1.0", which WebSocket clients reject
 * before they read the status. */
static int refuse(lc_server_t *srv, struct lws *wsi, unsigned status, const char *body) {
    static const struct {
        unsigned code;
        const char *text;
    } texts[] = {{400, "Bad Request"}, {404, "Not Found"}, {426, "Upgrade Required"},
                 {429, "Too Many Requests"}, {503, "Service Unavailable"}};
    const char *text = "Error";
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].code == status) text = texts[i].text;
    char buf[LWS_PRE + 512];
    char *p = buf + LWS_PRE;
    int n = snprintf(p, 512,
                     "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n%s",
                     status, text, strlen(body),
                     status == 503 || status == 429 ? "Retry-After: 1\r\n"
                     : status == 426              ? "Sec-WebSocket-Version: 13\r\n"
                                                  : "",
                     body);
    srv->m.upgrades_refused++;
    if (n < 0 || n >= 512) return -1;
    if (lws_write(wsi, (unsigned char *)p, (size_t)n, LWS_WRITE_HTTP_FINAL) != n) return -1;
    return 1;
}

/* The client address of this request (see lc_http_client_ip). */
static void client_ip(lc_server_t *srv, struct lws *wsi, char *out, size_t cap) {
    char peer[64] = "", xff[256] = "";
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    if (srv->cfg.ntrusted && lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) < 0) xff[0] = '\0';
    lc_http_client_ip(peer, xff, srv->cfg.trusted, srv->cfg.ntrusted, out, cap);
}

static uintptr_t ip_count(lc_server_t *srv, const char *ip) {
    return (uintptr_t)lc_map_get(srv->ips, ip, strlen(ip));
}

static void ip_add(lc_server_t *srv, const char *ip, int d) {
    uintptr_t n = ip_count(srv, ip) + (uintptr_t)(intptr_t)d;
    if (n == 0)
        lc_map_del(srv->ips, ip, strlen(ip));
    else
        lc_map_put(srv->ips, ip, strlen(ip), (void *)n);
}

static int confirm_upgrade(lc_server_t *srv, struct lws *wsi) {
    char path[128], room[80], hv[64];
    /* lws 4.1 answers 101 to any Sec-WebSocket-Version (none, 8, "abc") and
     * to any non-empty key: RFC 6455 4.2.1 and 4.4 are ours to enforce */
    if (lws_hdr_copy(wsi, hv, sizeof(hv), WSI_TOKEN_VERSION) != 2 || strcmp(hv, "13") != 0)
        return refuse(srv, wsi, 426, "unsupported WebSocket version: use 13\n");
    int kn = lws_hdr_copy(wsi, hv, sizeof(hv), WSI_TOKEN_KEY);
    if (kn <= 0 || !lc_http_ws_key_valid(hv, (size_t)kn)) return refuse(srv, wsi, 400, "bad Sec-WebSocket-Key\n");
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0 || strcmp(path, "/live") != 0)
        return refuse(srv, wsi, 404, "not found: connect to /live?room=ROOM\n");
    int n = url_room(wsi, room, sizeof(room));
    if (n < 0 || !lc_room_name_valid(room, (size_t)n))
        return refuse(srv, wsi, 400, "bad room: 1-64 characters of A-Z a-z 0-9 _ -\n");
    if (!subprotocol_ok(wsi))
        return refuse(srv, wsi, 400, "unsupported subprotocol: use livecart.json or livecart.msgpack\n");
    if (srv->draining) return refuse(srv, wsi, 503, "draining\n");
    /* A reconnect storm (every viewer of a shard that went away, at once)
     * must not knock this shard over: past the rate, come back in a second. */
    if (srv->cfg.max_accept_rate) {
        net_t *net = srv->net;
        double rate = srv->cfg.max_accept_rate;
        if (!lc_bucket_take(&net->accepts, rate, rate, uv_now(srv->loop))) {
            srv->m.accept_refused++;
            return refuse(srv, wsi, 503, "busy: retry\n");
        }
    }
    if (srv->cfg.max_conns_per_ip) {
        char ip[48];
        client_ip(srv, wsi, ip, sizeof(ip));
        if (ip_count(srv, ip) >= srv->cfg.max_conns_per_ip) {
            srv->m.ip_refused++;
            return refuse(srv, wsi, 429, "too many connections from this address\n");
        }
    }
    return 0;
}

/* ---- connection events ---- */

static int on_established(lc_server_t *srv, struct lws *wsi, pss_t *pss) {
    char room[80];
    int n = url_room(wsi, room, sizeof(room));
    if (n < 0 || !lc_room_name_valid(room, (size_t)n)) return -1; /* checked at upgrade */
    lc_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return -1;
    c->room = lc_room_get(srv, room, (size_t)n);
    if (!c->room) {
        free(c);
        return -1;
    }
    c->srv = srv;
    c->wsi = wsi;
    c->refs = 1;
    client_ip(srv, wsi, c->ip, sizeof(c->ip));
    ip_add(srv, c->ip, +1);
    c->last_rx = (uint32_t)(uv_now(srv->loop) / 1000);
    c->jitter = (uint16_t)(srv->m.conns_total % (srv->cfg.ping_secs / 2 + 1));
    c->fmt = (uint8_t)lws_get_protocol(wsi)->id;
    /* Bound what the kernel may hold for a peer that stops reading
     * (PROTOCOL.md, "Slow and stuck readers"); the kernel doubles it. */
    int fd = lws_get_socket_fd(wsi), sb = (int)srv->cfg.sndbuf;
    if (sb && fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)) != 0)
        lc_log("net: SO_SNDBUF: %s", strerror(errno));
    c->next = srv->conns;
    if (c->next) c->next->prev = c;
    srv->conns = c;
    pss->c = c;
    pss->counted = 1;
    srv->ws_alive++;
    srv->m.conns_open++;
    srv->m.conns_total++;
    return 0;
}

static void on_closed(lc_server_t *srv, lc_conn_t *c) {
    ip_add(srv, c->ip, -1);
    lc_room_leave(c->room, c);
    lc_room_unref(c->room);
    queue_free(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->wsi = NULL;
    srv->m.conns_open--;
    lc_conn_unref(c);
}

static void on_receive(lc_conn_t *c, struct lws *wsi, const uint8_t *in, size_t len) {
    if (c->close_code) return; /* closing: input is ignored */
    size_t remain = lws_remaining_packet_payload(wsi);
    int final = lws_is_final_fragment(wsi);
    if ((size_t)c->rxlen + len + remain > LC_MAX_CLIENT_MSG) {
        lc_conn_send_error(c, LC_ERR_TOO_LARGE, "message over %d bytes", LC_MAX_CLIENT_MSG);
        lc_conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
        return;
    }
    if (!c->rx && final) { /* the common case: the whole message at once */
        lc_session_on_frame(c, in, len, lws_frame_is_binary(wsi));
        return;
    }
    if (!c->rx && !(c->rx = malloc(LC_MAX_CLIENT_MSG))) {
        lc_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    memcpy(c->rx + c->rxlen, in, len);
    c->rxlen = (uint16_t)(c->rxlen + len);
    if (final) {
        uint8_t *msg = c->rx;
        size_t n = c->rxlen;
        c->rx = NULL;
        c->rxlen = 0;
        lc_session_on_frame(c, msg, n, lws_frame_is_binary(wsi));
        free(msg);
    }
}

/* A reader the ring dropped messages under: tell it, then go on from the
 * oldest message still held -- or close it when it keeps falling behind. */
static void on_lapped(lc_conn_t *c, lc_ring_t *ring) {
    lc_server_t *srv = c->srv;
    srv->m.gaps++;
    uint64_t to = lc_ring_tail(ring);
    lc_ring_reader_move(ring, c->tail, to);
    c->tail = to;
    if (++c->gaps > srv->cfg.max_gaps) {
        srv->m.slow_closed++;
        lc_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too slow");
        return;
    }
    char buf[42];
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_GAP);
    lc_msg_set(&m, last, lc_str(buf, lc_sid_format(c->last, buf)));
    lc_conn_send_msg(c, &m);
    lc_room_send_state(c->room, c);
}

static int write_raw(lc_conn_t *c, const uint8_t *p, size_t n) {
    c->srv->m.bytes_out += n;
    return lws_write(c->wsi, (unsigned char *)p, n, LWS_WRITE_HTTP) < 0 ? -1 : 0;
}

/* Closing, with everything queued sent. We write the close frame ourselves:
 * Debian's libwebsockets 4.1 is a _DEBUG build, and with libuv its close
 * path re-enters itself at once and hangs up without the close frame that
 * lws_close_reason() prepared (the client sees 1006). The first call writes
 * the frame and waits for WRITEABLE, which lws only gives once the frame is
 * on the wire; the second hangs up. A peer whose socket takes nothing meanwhile
 * is cut like any stuck socket, after --write-timeout-ms (lc_net_keepalive). */
static int close_step(lc_conn_t *c) {
    if (c->close_sent) return -1;
    const char *why = c->close_why ? c->close_why : "";
    uint8_t f[2 + 2 + 64];
    size_t n = strlen(why);
    if (n > 64) n = 64;
    f[0] = 0x88; /* FIN + close */
    f[1] = (uint8_t)(2 + n);
    f[2] = (uint8_t)(c->close_code >> 8);
    f[3] = (uint8_t)c->close_code;
    memcpy(f + 4, why, n);
    if (write_raw(c, f, 4 + n) != 0) return -1;
    c->close_sent = 1;
    want_writeable(c);
    return 0;
}

/* Writes what c has pending -- its replies, then its room's traffic -- in
 * one batch. Returns -1 if the socket failed, else 0; *more says whether
 * something is left for later (batch full). */
static int write_pending(lc_server_t *srv, lc_conn_t *c, int *more) {
    uint8_t *batch = srv->wbuf;
    size_t n = 0;
    /* 1. replies for this connection, in order */
    while (c->qhead) {
        lc_frame_t *f = c->qhead->f;
        size_t len = f->len[c->fmt];
        if (n + len > LC_WRITE_BATCH) {
            if (n) break;
            if (write_raw(c, f->data[c->fmt], len) != 0) return -1; /* one big frame */
            n = LC_WRITE_BATCH; /* and nothing more this time */
            batch = NULL;
        } else {
            memcpy(batch + n, f->data[c->fmt], len);
            n += len;
        }
        srv->m.frames_out++;
        lc_qitem_t *q = c->qhead;
        c->qhead = q->next;
        if (!c->qhead) c->qtail = NULL;
        c->qbytes -= len;
        lc_frame_unref(q->f);
        free(q);
    }
    /* 2. the room's traffic, once the replies are out */
    lc_ring_t *ring = lc_room_ring(c->room);
    if (c->state == LC_CONN_JOINED && !c->qhead && !c->close_code) {
        if (c->tail < lc_ring_tail(ring)) on_lapped(c, ring);
        uint64_t pos = c->tail, head = lc_ring_head(ring);
        while (pos < head && !c->qhead && !c->close_code) {
            lc_frame_t *f = lc_ring_at(ring, pos);
            if (f->kind == LC_FRAME_COMMENT) {
                if (lc_sid_cmp(f->id, c->last) <= 0) { /* already in its history */
                    pos++;
                    continue;
                }
            }
            size_t len = f->len[c->fmt];
            if (n + len > LC_WRITE_BATCH) {
                if (n) break;
                if (write_raw(c, f->data[c->fmt], len) != 0) return -1;
                n = LC_WRITE_BATCH;
                batch = NULL;
            } else {
                memcpy(batch + n, f->data[c->fmt], len);
                n += len;
            }
            if (f->kind == LC_FRAME_COMMENT) c->last = f->id;
            srv->m.frames_out++;
            pos++;
        }
        if (pos != c->tail) {
            lc_ring_reader_move(ring, c->tail, pos);
            c->tail = pos;
        }
    }
    if (n && batch && write_raw(c, batch, n) != 0) return -1;
    *more = c->qhead || (c->state == LC_CONN_JOINED && !c->close_code && c->tail < lc_ring_head(ring));
    return 0;
}

static int on_writeable(lc_server_t *srv, lc_conn_t *c) {
    int more;
    c->want_write = 0;
    c->stall_ms = 0;
    if (write_pending(srv, c, &more) != 0) return -1;
    if (more) {
        want_writeable(c);
    } else if (c->close_code) {
        return close_step(c);
    } else {
        lc_room_reader_idle(c->room, c);
    }
    return 0;
}

/*
 * The write path's fast lane, run after every poll phase. Everything that
 * became ready for a connection during this iteration goes out in one
 * send(), written directly: asking lws for WRITEABLE instead costs two
 * epoll_ctl calls per message per viewer (the profile of a 5,000-viewer
 * room showed a third of all CPU in epoll_ctl). lws is asked only when it
 * still holds unsent bytes for the socket (backpressure: its buffer is
 * drained first, in order), when the batch did not fit, and for closing.
 * Writing outside WRITEABLE keeps lws's ordering: lws_write of raw bytes
 * appends to any bytes lws already buffered, and ours are whole frames.
 */
static void on_flush(uv_check_t *h) {
    net_t *net = h->data;
    lc_conn_t *c;
    while ((c = net->fhead)) {
        net->fhead = c->fnext;
        if (!net->fhead) net->ftail = NULL;
        c->flushing = 0;
        if (c->wsi && !c->want_write) {
            int more = 0;
            if (c->close_code || lws_partial_buffered(c->wsi)) {
                want_writeable(c);
            } else if (write_pending(c->srv, c, &more) != 0) {
                /* the socket failed: lws notices on its next service */
                c->close_sent = 1;
                c->close_code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
                want_writeable(c);
            } else if (more || lws_partial_buffered(c->wsi)) {
                want_writeable(c);
            } else {
                lc_room_reader_idle(c->room, c);
            }
        }
        lc_conn_unref(c);
    }
}

static void alive(lc_server_t *srv, lc_conn_t *c) {
    c->last_rx = (uint32_t)(uv_now(srv->loop) / 1000);
    c->pinged = 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
    lc_server_t *srv = lws_context_user(lws_get_context(wsi));
    pss_t *pss = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(srv, wsi);
    case LWS_CALLBACK_HTTP:
        return lc_http_serve(srv, wsi, in ? (const char *)in : "/", &pss->http);
    case LWS_CALLBACK_HTTP_BODY:
        return lc_api_body(srv, wsi, &pss->http, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return lc_api_body_done(srv, wsi, &pss->http);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (pss && pss->http) return lc_api_writeable(srv, wsi, &pss->http);
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss) lc_api_closed(&pss->http);
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(srv, wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        if (pss && pss->c) {
            alive(srv, pss->c);
            on_receive(pss->c, wsi, in, len);
        }
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss && pss->c) alive(srv, pss->c);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return (pss && pss->c) ? on_writeable(srv, pss->c) : 0;
    case LWS_CALLBACK_CLOSED:
        /* lws may still be sending the close frame: the wsi lives on until
         * LWS_CALLBACK_WSI_DESTROY, and shutdown waits for that. */
        if (pss && pss->c) {
            on_closed(srv, pss->c);
            pss->c = NULL;
        }
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (pss && pss->counted) {
            pss->counted = 0;
            srv->ws_alive--;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void lws_log(int level, const char *line) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    lc_log("lws: %.*s", (int)n, line);
}

/* lws 4.1 binds every interface, silently, when it cannot list them
 * (getifaddrs fails, e.g. under a sandbox without AF_NETLINK). Check the
 * listening socket we got: its address must be the --bind one. */
static int listens_where_asked(lc_server_t *srv) {
    struct addrinfo hints = {0}, *want = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(srv->cfg.bind, NULL, &hints, &want) != 0 || !want) return 0; /* a name: lws's business */
    int ok = 0, found = 0;
    for (int fd = 3; fd < 1024 && !found; fd++) {
        int acc = 0;
        socklen_t al = sizeof(acc);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
            continue;
        int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                 : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : -1;
        if (port != srv->cfg.port) continue;
        found = 1;
        if (ss.ss_family == AF_INET && want->ai_family == AF_INET)
            ok = ((struct sockaddr_in *)&ss)->sin_addr.s_addr ==
                 ((struct sockaddr_in *)want->ai_addr)->sin_addr.s_addr;
        else if (ss.ss_family == AF_INET6 && want->ai_family == AF_INET6)
            ok = memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr,
                        &((struct sockaddr_in6 *)want->ai_addr)->sin6_addr, sizeof(struct in6_addr)) == 0;
    }
    freeaddrinfo(want);
    if (found && !ok) {
        lc_log("listening on another address than --bind %s (lws could not list the interfaces?): "
               "refusing to serve", srv->cfg.bind);
        return -1;
    }
    return 0;
}

/* lws 4.1 on a foreign loop logs nothing and returns a context when the
 * port is taken; find out ourselves, the same way it binds (SO_REUSEADDR),
 * so that a second shard on the same port fails loudly at start. */
static int port_free(const char *addr, int port) {
    struct addrinfo hints = {0}, *res = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    if (getaddrinfo(addr, ps, &hints, &res) != 0 || !res) {
        lc_log("--bind %s: not a numeric address", addr);
        return 0;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0;
        if (!ok) lc_log("cannot listen on %s:%d: %s", addr, port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

int lc_net_start(lc_server_t *srv) {
    if (!port_free(srv->cfg.bind, srv->cfg.port)) return -1;
    net_t *net = calloc(1, sizeof(*net));
    if (!net) return -1;
    srv->net = net;
    lws_set_log_level(getenv("LC_LWS_DEBUG") ? 0x7ff : (LLL_ERR | LLL_WARN), lws_log);
    /* Both subprotocols share one callback; the id is the lc_fmt_t. The
     * first is the default for clients that name no subprotocol: JSON. */
    const char *names[2] = {"livecart.json", "livecart.msgpack"};
    for (int i = 0; i < 2; i++) {
        struct lws_protocols *p = &net->protocols[i];
        p->name = names[i];
        p->callback = callback;
        p->per_session_data_size = sizeof(pss_t);
        p->rx_buffer_size = RX_BUFFER;
        p->id = (unsigned)i;
        p->tx_packet_size = 65536; /* lets one raw write carry a whole batch */
    }
    uv_check_init(srv->loop, &net->flush);
    net->flush.data = net;
    uv_check_start(&net->flush, on_flush);
    /* lws's own keepalive stays off (zeros): see lc_net_keepalive. */
    /* FIN + ping with a 1-byte payload: lws 4.1 reports a pong to us only
     * when it carries a payload, and a pong echoes its ping's payload */
    static const uint8_t ping[3] = {0x89, 0x01, 'k'};
    net->ping = lc_frame_control(ping, sizeof(ping));
    net->loops[0] = srv->loop;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = srv->cfg.port;
    info.iface = srv->cfg.bind;
    info.protocols = net->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    /* With IPv6 on, lws 4.1 maps an IPv4 address it cannot convert to the
     * any-address: binding "127.0.0.1" listened on every interface. An IPv4
     * bind therefore runs with IPv6 off (checked by test_connect.py). */
    if (!strchr(srv->cfg.bind, ':')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = net->loops;
    info.retry_and_idle_policy = &net->retry;
    info.user = srv;
    info.timeout_secs = 10;
    info.max_http_header_data = 4096;
    if (srv->cfg.tls_cert[0]) {
        /* lws on OpenSSL terminates TLS itself: wss:// and https:// */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->cfg.tls_cert;
        info.ssl_private_key_filepath = srv->cfg.tls_key;
    }
    srv->lws = lws_create_context(&info);
    if (!srv->lws) {
        lc_log("cannot listen on %s:%d (is the port taken?)", srv->cfg.bind, srv->cfg.port);
        return -1;
    }
    if (listens_where_asked(srv) != 0) return -1;
    return 0;
}

/* The kernel's unsent bytes on c's socket, or UINT32_MAX if unknown. */
static uint32_t unsent(lc_conn_t *c) {
    int fd = lws_get_socket_fd(c->wsi), n = 0;
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0) return UINT32_MAX;
    return (uint32_t)n;
}

/* 1 if c has waited on a WRITEABLE for --write-timeout-ms and its socket
 * took no bytes since the last look (a second ago). A reader that still
 * reads, however slowly, makes progress and keeps its connection (a
 * lapped one gets `gap` as before); one that never reads is cut, and what
 * it pinned (kernel buffer, lws's partial write, our queue) is freed. */
static int write_stalled(lc_server_t *srv, lc_conn_t *c, uint64_t now_ms) {
    if (!c->want_write || !c->stall_ms) return 0;
    uint32_t q = unsent(c);
    if (q != c->stall_outq) {
        if (c->stall_outq != UINT32_MAX) c->stall_ms = now_ms; /* it took bytes */
        c->stall_outq = q;
        return 0;
    }
    return now_ms - c->stall_ms >= srv->cfg.write_timeout_ms;
}

/*
 * Keepalive and stuck sockets, run once a second. lws 4.1 has a keepalive
 * (its "validity" timers), but it keeps per-connection timers in a sorted
 * list, O(n) per re-arm: 10,000 viewers that joined together all ping in
 * the same second and the shard stalled for two seconds (measured). Ours
 * pings a connection once it has been silent for --ping-secs plus a
 * per-connection jitter of up to half that (so the pings of a crowd spread
 * out), on the normal write path, and cuts it if it stays silent 10 s
 * after the ping. Anything the client sends, pongs included, counts as
 * life. The same pass cuts sockets that take no bytes (write_stalled).
 */
void lc_net_keepalive(lc_server_t *srv) {
    net_t *net = srv->net;
    uint64_t now_ms = uv_now(srv->loop), now = now_ms / 1000;
    unsigned ping = srv->cfg.ping_secs;
    for (lc_conn_t *c = srv->conns; c; c = c->next) {
        if (!c->wsi || c->killed) continue;
        if (write_stalled(srv, c, now_ms)) {
            srv->m.write_timeouts++;
            hard_close(c);
            continue;
        }
        if (c->close_code || c->close_sent) continue;
        uint64_t idle = now - c->last_rx;
        if (c->pinged && idle >= (uint64_t)c->pinged_after + 10) {
            srv->m.ping_timeouts++;
            hard_close(c);
        } else if (!c->pinged && idle >= ping + c->jitter && net->ping) {
            c->pinged = 1;
            c->pinged_after = (uint32_t)idle;
            lc_conn_send(c, net->ping);
        }
    }
}

/*
 * Shutdown without a storm: every connection learns, at once, when to come
 * back ({"type":"reconnect","after_ms":J}, J spread evenly over
 * --drain-ms), and is closed (1001) at that moment, so reconnects arrive at
 * the other shards paced, not all at once. Health checks already fail.
 */
void lc_net_drain(lc_server_t *srv) {
    uint64_t now = uv_now(srv->loop);
    unsigned n = 0, i = 0;
    for (lc_conn_t *c = srv->conns; c; c = c->next) n++;
    for (lc_conn_t *c = srv->conns; c; c = c->next, i++) {
        uint64_t after = n > 1 ? (uint64_t)srv->cfg.drain_ms * i / (n - 1) : 0;
        c->close_at = now + after;
        if (c->state != LC_CONN_JOINED) continue;
        lc_msg_t m;
        lc_msg_init(&m, LC_MSG_RECONNECT);
        lc_msg_set(&m, after_ms, (int64_t)after);
        lc_conn_send_msg(c, &m);
    }
    lc_net_drain_step(srv);
}

/* Closes the connections whose turn has come; returns how many are open. */
unsigned lc_net_drain_step(lc_server_t *srv) {
    uint64_t now = uv_now(srv->loop);
    unsigned open = 0;
    for (lc_conn_t *c = srv->conns; c; c = c->next) {
        open++;
        if (now >= c->close_at) lc_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    }
    return open;
}

/* With a foreign loop, lws destroys its context in two steps: the first
 * call (inside the loop) starts closing its handles, the second (after the
 * loop has run them closed) frees the rest. */
void lc_net_stop(lc_server_t *srv) {
    if (srv->lws) lws_context_destroy(srv->lws);
    net_t *net = srv->net;
    if (net) {
        uv_check_stop(&net->flush);
        on_flush(&net->flush); /* drop the references the list holds */
        uv_close((uv_handle_t *)&net->flush, NULL); /* net itself goes in lc_net_free */
        lc_frame_unref(net->ping);
        net->ping = NULL;
    }
}

void lc_net_free(lc_server_t *srv) {
    if (srv->lws) lws_context_destroy(srv->lws);
    srv->lws = NULL;
    free(srv->net); /* lws is done with the protocols; the loop closed the check handle */
    srv->net = NULL;
}
