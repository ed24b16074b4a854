/*
 * The lean transport (client.h, lt_conn_open_lean): a WebSocket client on a
 * plain libuv TCP handle for connections that only count what they get.
 *
 * What it saves over libwebsockets, per message: lws parses every byte of a
 * frame through its state machine, copies the payload into a per-connection
 * rx buffer and calls the protocol callback once per chunk of it; here a
 * read lands in one buffer shared by every lean connection (a read callback
 * consumes it before the next read starts, so one is enough), the frame
 * walker (wsframe.c) looks at headers only and steps over payloads, and the
 * owner hears one on_count per read. A connection costs a uv_tcp_t and the
 * walker's state, about 600 bytes with lt_conn_t.
 *
 * Lifetime: lean_end reports the end once (on_close) and closes the handle;
 * the memory is freed in the close callback, never earlier, so a connection
 * ended from inside its own read callback stays valid until that returns.
 *
 * Writes (the upgrade request, hello, likes, pongs, close) are few and
 * small: uv_try_write, and only what the socket did not take is copied into
 * a write request. Out of memory: the write or connection that needed it
 * fails; nothing aborts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "wsframe.h"
#include "wshake.h"

/* The shared read buffer: a socket with more queued than this is read
 * again by libuv right away (up to 32 reads per wakeup). */
#define RBUF (256 * 1024)
#define HS_CAP 2048         /* the upgrade request, then the answer's head */
#define PEEK_MAX 4096
#define UPGRADE_MS 10000    /* a handshake this slow on loopback is stuck (as lws's timeout_secs) */
#define CLOSE_MS 5000       /* after our close frame, the server's answer or EOF */

enum { L_CONNECTING, L_UPGRADING, L_OPEN, L_CLOSING, L_ENDED };
enum { STOP_CLOSE = 1, STOP_ENDED = 2 }; /* the frame callback's reasons to stop a walk */

struct lt_lean {
    uv_tcp_t tcp;
    uv_connect_t creq;
    lt_conn_t *c;
    lt_lean_t *prev, *next; /* the client's list (until ended) */
    lt_wsr_t rd;
    uint8_t *pbuf;          /* the peek buffer, or NULL */
    char *hs;               /* HS_CAP bytes until upgraded */
    uint16_t hslen, reqlen;
    const char *proto;      /* the subprotocol offered, or NULL */
    const char *ext;        /* the extension offered (--deflate), or NULL */
    char accept[LT_WSH_ACCEPT_LEN + 1];
    uint8_t state;
    uint64_t since_ms;      /* when the current state began */
};

typedef struct wreq {
    uv_write_t req;
    char data[];
} wreq_t;

static void on_written(uv_write_t *req, int status) {
    (void)status; /* a broken connection is reported by its read side */
    free(req);
}

/* Writes p[0..n) after whatever is queued. Returns 0 or a libuv error. */
static int lean_write(lt_lean_t *l, const void *p, size_t n) {
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int rc = uv_try_write((uv_stream_t *)&l->tcp, &b, 1);
    if (rc == (int)n) return 0;
    if (rc < 0 && rc != UV_EAGAIN) return rc;
    size_t done = rc > 0 ? (size_t)rc : 0;
    wreq_t *w = malloc(sizeof(*w) + n - done);
    if (!w) return UV_ENOMEM;
    memcpy(w->data, (const char *)p + done, n - done);
    b = uv_buf_init(w->data, (unsigned)(n - done));
    rc = uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_written);
    if (rc != 0) free(w);
    return rc;
}

/* Frames (masked) and writes one message. Returns 0 or a libuv error. */
static int send_frame(lt_lean_t *l, int op, const void *p, size_t n) {
    lt_client_t *cl = l->c->cl;
    uint8_t *buf = n + 14 <= LT__BATCH && cl->wbuf ? cl->wbuf : malloc(n + 14);
    if (!buf) return UV_ENOMEM;
    size_t fl = lt__frame(cl, buf, op, p, n);
    int rc = lean_write(l, buf, fl);
    if (buf != cl->wbuf) free(buf);
    if (rc == 0 && op < LT_WS_CLOSE) {
        cl->st.frames_out++;
        cl->st.bytes_out += fl;
    }
    return rc;
}

static void send_close(lt_lean_t *l, int code) {
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    (void)send_frame(l, LT_WS_CLOSE, p, 2); /* a failed write: the sweep ends it */
    l->state = L_CLOSING;
    l->since_ms = uv_now(l->c->cl->loop);
}

static void unlink_lean(lt_lean_t *l) {
    lt_client_t *cl = l->c->cl;
    if (l->prev) l->prev->next = l->next;
    else cl->lean_head = l->next;
    if (l->next) l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

static void on_closed(uv_handle_t *h) {
    lt_lean_t *l = h->data;
    if (l->c) lt__conn_free(l->c);
    free(l->pbuf);
    free(l->hs);
    free(l);
}

/* The connection is over: report it once, close the handle (freed in its
 * close callback). code is ignored for one that never opened (0). */
static void lean_end(lt_lean_t *l, int code, const char *err) {
    if (l->state == L_ENDED) return;
    lt_conn_t *c = l->c;
    lt_client_t *cl = c->cl;
    l->state = L_ENDED;
    unlink_lean(l);
    if (c->opened) {
        cl->st.open--;
        cl->st.closed++;
    } else {
        cl->st.failed++;
    }
    if (c->ops->on_close) c->ops->on_close(c, c->opened ? code : 0, err);
    uv_close((uv_handle_t *)&l->tcp, on_closed);
}

/* Hands the counted messages to the owner (before any later on_raw). */
static void flush_counts(lt_lean_t *l) {
    if (!l->rd.msgs) return;
    lt_conn_t *c = l->c;
    uint64_t f = l->rd.msgs, b = l->rd.bytes;
    l->rd.msgs = l->rd.bytes = 0;
    c->cl->st.frames_in += f;
    c->cl->st.bytes_in += b;
    if (c->ops->on_count) c->ops->on_count(c, f, b);
}

/* The walker's callback: control frames and peeked messages. */
static int on_frame(void *arg, int op, const uint8_t *p, size_t n) {
    lt_lean_t *l = arg;
    lt_conn_t *c = l->c;
    if (l->state == L_ENDED) return STOP_ENDED;
    switch (op) {
    case LT_WS_PING: /* the server's keepalive: it cuts a connection that does not answer */
        if (l->state == L_OPEN) (void)send_frame(l, LT_WS_PONG, p, n);
        return 0;
    case LT_WS_PONG:
        return 0;
    case LT_WS_CLOSE:
        c->close_code = n >= 2 ? p[0] << 8 | p[1] : 0;
        if (l->state == L_OPEN) (void)send_frame(l, LT_WS_CLOSE, p, n >= 2 ? 2 : 0); /* echo it */
        return STOP_CLOSE;
    default:
        flush_counts(l);
        if (l->state == L_ENDED) return STOP_ENDED;
        c->cl->st.frames_in++;
        c->cl->st.bytes_in += n;
        if (c->ops->on_raw) c->ops->on_raw(c, p, n);
        return l->state == L_ENDED ? STOP_ENDED : 0;
    }
}

/* Frames from the server: walk, count, answer. */
static void walk(lt_lean_t *l, const uint8_t *p, size_t n) {
    lt_conn_t *c = l->c;
    int rc = lt_wsr_feed(&l->rd, p, n, on_frame, l);
    flush_counts(l);
    if (l->state == L_ENDED) return;
    if (rc < 0) {
        c->cl->st.framing_errors++;
        if (l->state == L_OPEN) send_close(l, 1002);
        lean_end(l, 1002, lt_wsr_strerror(rc));
    } else if (rc == STOP_CLOSE) {
        lean_end(l, c->close_code ? c->close_code : 1006, NULL);
    }
}

/* The upgrade succeeded: queued payloads go out, then the owner's on_open. */
static void opened(lt_lean_t *l) {
    lt_conn_t *c = l->c;
    lt_client_t *cl = c->cl;
    l->state = L_OPEN;
    c->opened = 1;
    cl->st.open++;
    cl->st.opened++;
    cl->st.lean_opened++;
    int op = c->fmt == LC_FMT_MSGPACK ? LT_WS_BINARY : LT_WS_TEXT;
    for (size_t off = 0; off + 4 <= c->out.len;) {
        uint32_t len;
        memcpy(&len, c->out.p + off, 4);
        (void)send_frame(l, op, c->out.p + off + 4, len);
        off += 4 + len;
    }
    lc_buf_free(&c->out);
    if (c->ops->on_open) c->ops->on_open(c);
    if (l->state == L_OPEN && c->closing) send_close(l, 1000);
}

/* Bytes of the answer's head. Returns how many of p were the head (the
 * rest are frames), or -1 when the connection is over or needs more. */
static long upgrade(lt_lean_t *l, const uint8_t *p, size_t n) {
    size_t before = l->hslen, room = HS_CAP - 1 - before, take = n < room ? n : room;
    memcpy(l->hs + before, p, take);
    l->hslen = (uint16_t)(before + take);
    lt_wsh_answer_t a;
    int rc = lt_wsh_check(l->hs, l->hslen, l->accept, l->proto, l->ext, &a);
    if (rc > 0) l->rd.rsv1_ok = (uint8_t)a.deflate;
    if (rc == 0) {
        if (l->hslen >= HS_CAP - 1) lean_end(l, 0, "upgrade answer too long");
        return -1;
    }
    if (rc < 0) {
        char err[96];
        l->c->http_status = a.status;
        l->c->retry_after = a.retry_after;
        snprintf(err, sizeof(err), "HTTP %d: %s", a.status, a.err);
        lean_end(l, 0, err);
        return -1;
    }
    free(l->hs);
    l->hs = NULL;
    opened(l);
    return l->state == L_ENDED ? -1 : (long)(a.head_len - before);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    lt_lean_t *l = h->data;
    *b = uv_buf_init((char *)l->c->cl->rbuf, RBUF);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    lt_lean_t *l = s->data;
    if (l->state == L_ENDED || nread == 0) return;
    if (nread < 0) {
        const char *err = nread != UV_EOF ? uv_strerror((int)nread) : l->state == L_UPGRADING ? "closed during the upgrade" : NULL;
        lean_end(l, l->c->close_code ? l->c->close_code : 1006, err);
        return;
    }
    const uint8_t *p = (const uint8_t *)b->base;
    size_t n = (size_t)nread;
    if (l->state == L_UPGRADING) {
        long used = upgrade(l, p, n);
        if (used < 0) return;
        p += used;
        n -= (size_t)used;
    }
    if (n) walk(l, p, n);
}

static void on_connect(uv_connect_t *req, int status) {
    lt_lean_t *l = req->handle->data;
    if (l->state == L_ENDED) return; /* stopped while connecting */
    if (status < 0) {
        lean_end(l, 0, uv_strerror(status));
        return;
    }
    l->state = L_UPGRADING;
    l->since_ms = uv_now(l->c->cl->loop);
    if (uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read) != 0 || lean_write(l, l->hs, l->reqlen) != 0) {
        lean_end(l, 0, "cannot send the upgrade request");
        return;
    }
    l->hslen = 0; /* hs now gathers the answer */
}

/* Once a second: upgrades and closes that take too long are ended. The
 * expired ones are gathered first, because an on_close may open or end
 * other connections (the list changes under a walk). */
static void on_sweep(uv_timer_t *t) {
    lt_client_t *cl = t->data;
    uint64_t now = uv_now(cl->loop);
    lt_lean_t **due = NULL;
    size_t n = 0, cap = 0;
    for (lt_lean_t *l = cl->lean_head; l; l = l->next) {
        int late = (l->state < L_OPEN && now - l->since_ms > UPGRADE_MS) ||
                   (l->state == L_CLOSING && now - l->since_ms > CLOSE_MS);
        if (!late) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            lt_lean_t **nd = realloc(due, nc * sizeof(*nd));
            if (!nd) break; /* out of memory: the rest wait for the next sweep */
            due = nd;
            cap = nc;
        }
        due[n++] = l;
    }
    for (size_t i = 0; i < n; i++) {
        lt_lean_t *l = due[i];
        if (l->state == L_CLOSING) lean_end(l, l->c->close_code ? l->c->close_code : 1006, NULL);
        else lean_end(l, 0, "upgrade timed out");
    }
    free(due);
}

static int dest_addr(const lt_target_t *t, struct sockaddr_storage *ss) {
    const char *host = strcmp(t->host, "localhost") == 0 ? "127.0.0.1" : t->host;
    if (strchr(host, ':')) return uv_ip6_addr(host, t->port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(host, t->port, (struct sockaddr_in *)ss);
}

int lt__lean_open(lt_conn_t *c, const lt_target_t *t, const char *path, const char *src) {
    lt_client_t *cl = c->cl;
    struct sockaddr_storage dst, from;
    if (cl->stopped || dest_addr(t, &dst) != 0) return -1;
    if (src && uv_ip4_addr(src, 0, (struct sockaddr_in *)&from) != 0) return -1;
    if (!cl->rbuf && !(cl->rbuf = malloc(RBUF))) return -1;
    if (!cl->sweep_init) {
        /* a pong written to a connection the server just reset must fail
         * with EPIPE, not end the process (lws does the same for its own) */
        signal(SIGPIPE, SIG_IGN);
        if (uv_timer_init(cl->loop, &cl->sweep) != 0) return -1;
        cl->sweep.data = cl;
        cl->sweep_init = 1;
        if (uv_timer_start(&cl->sweep, on_sweep, 1000, 1000) != 0) return -1;
    }
    lt_lean_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->hs = malloc(HS_CAP))) {
        free(l);
        return -1;
    }
    char key[LT_WSH_KEY_LEN + 1];
    lt_wsh_key(&cl->mask_state, key);
    l->proto = c->fmt == LT_FMT_RAW ? NULL : c->fmt == LC_FMT_MSGPACK ? "livecart.msgpack" : "livecart.json";
    l->ext = cl->deflate ? "permessage-deflate; client_max_window_bits" : NULL;
    int rl = lt_wsh_request(l->hs, HS_CAP, t->host, t->port, path, l->proto, l->ext, key);
    if (rl < 0 || lt_wsh_accept(key, l->accept) != 0 || uv_tcp_init(cl->loop, &l->tcp) != 0) {
        free(l->hs);
        free(l);
        return -1;
    }
    l->reqlen = (uint16_t)rl;
    lt_wsr_init(&l->rd, NULL, 0);
    l->rd.want_op = c->fmt == LT_FMT_RAW ? 0 : c->fmt == LC_FMT_MSGPACK ? LT_WS_BINARY : LT_WS_TEXT;
    l->tcp.data = l;
    (void)uv_tcp_nodelay(&l->tcp, 1); /* likes and pongs go out at once; failing it only delays them */
    if ((src && uv_tcp_bind(&l->tcp, (const struct sockaddr *)&from, 0) != 0) ||
        uv_tcp_connect(&l->creq, &l->tcp, (const struct sockaddr *)&dst, on_connect) != 0) {
        l->state = L_ENDED;
        uv_close((uv_handle_t *)&l->tcp, on_closed); /* frees l only: c stays the caller's */
        return -1;
    }
    l->c = c;
    c->lean = l;
    l->state = L_CONNECTING;
    l->since_ms = uv_now(cl->loop);
    l->next = cl->lean_head;
    if (cl->lean_head) cl->lean_head->prev = l;
    cl->lean_head = l;
    return 0;
}

int lt__lean_send(lt_conn_t *c, const void *p, size_t n) {
    lt_lean_t *l = c->lean;
    if (c->closing || l->state >= L_CLOSING) return -1;
    if (l->state != L_OPEN) { /* before the upgrade: queued, [u32 len][bytes] */
        uint32_t len = (uint32_t)n;
        if (lc_buf_reserve(&c->out, 4 + n) != 0) return -1;
        lc_buf_append(&c->out, &len, 4);
        lc_buf_append(&c->out, p, n);
        return 0;
    }
    return send_frame(l, c->fmt == LC_FMT_MSGPACK ? LT_WS_BINARY : LT_WS_TEXT, p, n) == 0 ? 0 : -1;
}

void lt__lean_close(lt_conn_t *c) {
    c->closing = 1;
    if (c->lean->state == L_OPEN) send_close(c->lean, 1000);
}

int lt__lean_set_peek(lt_conn_t *c, uint32_t n) {
    lt_lean_t *l = c->lean;
    if (n > PEEK_MAX) return -1;
    uint8_t *nb = realloc(l->pbuf, n ? n : 1);
    if (!nb) return -1;
    if (n < l->rd.peek) l->rd.msg_peek = 0; /* a message being gathered would not fit: counted */
    l->pbuf = l->rd.pbuf = nb;
    l->rd.peek = n;
    return 0;
}

static void on_sweep_closed(uv_handle_t *h) {
    lt_client_t *cl = h->data;
    cl->sweep_init = 0;
    if (cl->free_pending) {
        free(cl->rbuf);
        free(cl);
    }
}

void lt__lean_stop(lt_client_t *cl) {
    if (cl->stopped) return;
    cl->stopped = 1;
    while (cl->lean_head) {
        lt_lean_t *l = cl->lean_head;
        lean_end(l, l->c->close_code ? l->c->close_code : 1006, l->c->opened ? NULL : "closed before connecting");
    }
    if (cl->sweep_init && !cl->sweep_closing) {
        cl->sweep_closing = 1;
        uv_close((uv_handle_t *)&cl->sweep, on_sweep_closed);
    }
}

void lt__lean_client_free(lt_client_t *cl) {
    if (cl->sweep_init) { /* its close callback frees cl */
        cl->free_pending = 1;
        return;
    }
    free(cl->rbuf);
    free(cl);
}
