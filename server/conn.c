/*
 * Connections and the write path. See conn.h.
 *
 * Write path. Every frame is stored already framed (lc_frame), so a write
 * is the connection's queued replies and then its room traffic (asked from
 * the fill hook), back to back in one scratch buffer, handed to the
 * transport at once: one send() carries many frames (the lws ring
 * example's one message per WRITEABLE costs a syscall and a poll change
 * per message per viewer).
 *
 * When. A connection with something new goes on the flush list, and a
 * uv_check handle drains the list after every poll phase, writing
 * directly: one send() per viewer per loop iteration, carrying everything
 * that arrived for it in that iteration. Asking the transport to say when
 * the socket is writable instead costs two epoll_ctl calls per message per
 * viewer (the profile of a 5,000-viewer room showed a third of all CPU in
 * epoll_ctl); that path is kept for backpressure (the transport still holds
 * bytes: they go first, in order), for a write that did not fit, and for
 * closing.
 */
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_int.h"
#include "deflate.h"
#include "log.h"
#include "store.h"

/* ---- the registry ---- */

static void on_check(uv_check_t *h);

lc_conns_t *lc_conns_create(lc_server_t *srv, const lc_conn_io_t *io) {
    lc_conns_t *cs = calloc(1, sizeof(*cs));
    if (!cs) return NULL;
    cs->wbuf = malloc(LC_WRITE_BATCH);
    /* FIN + ping with a 1-byte payload: lws 4.1 reports a pong to us only
     * when it carries a payload, and a pong echoes its ping's payload */
    static const uint8_t ping[3] = {0x89, 0x01, 'k'};
    cs->ping = lc_frame_control(ping, sizeof(ping));
    /* --deflate: the one compressor of the shard's shared frames */
    if (srv->cfg.deflate && !(cs->z = lc_deflate_new((int)srv->cfg.deflate_level, &srv->m.deflate))) {
        lc_frame_unref(cs->ping);
        free(cs->wbuf);
        free(cs);
        return NULL;
    }
    if (!cs->wbuf || !cs->ping || uv_check_init(srv->loop, &cs->check) != 0 ||
        uv_timer_init(srv->loop, &cs->delay) != 0) {
        lc_deflate_free(cs->z);
        lc_frame_unref(cs->ping);
        free(cs->wbuf);
        free(cs);
        return NULL;
    }
    cs->srv = srv;
    cs->io = io;
    cs->delay_ms = srv->cfg.write_delay_ms;
    lc_list_init(&cs->all);
    lc_list_init(&cs->flush);
    cs->check.data = cs->delay.data = cs;
    uv_check_start(&cs->check, on_check);
    return cs;
}

static void on_handle_closed(uv_handle_t *h) {
    lc_conns_t *cs = h->data;
    if (--cs->closing > 0) return;
    lc_deflate_free(cs->z);
    free(cs->wbuf);
    free(cs);
}

static void flush_due(lc_conns_t *cs, int all);
static void on_delay(uv_timer_t *t);

void lc_conns_destroy(lc_conns_t *cs) {
    if (!cs) return;
    uv_check_stop(&cs->check);
    uv_timer_stop(&cs->delay);
    flush_due(cs, 1); /* drop the references the flush list holds */
    lc_frame_unref(cs->ping);
    cs->ping = NULL;
    cs->closing = 2;
    uv_close((uv_handle_t *)&cs->check, on_handle_closed);
    uv_close((uv_handle_t *)&cs->delay, on_handle_closed);
}

void lc_conns_set_fill(lc_conns_t *cs, lc_conn_fill_fn *fill) { cs->fill = fill; }
unsigned lc_conns_count(const lc_conns_t *cs) { return cs->count; }

void lc_conns_foreach(lc_conns_t *cs, void (*fn)(lc_conn_t *c, void *arg), void *arg) {
    lc_list_foreach_safe(it, &cs->all) fn(LC_CONTAINER_OF(it, lc_conn_t, link), arg);
}

/* ---- one connection ---- */

static lc_conns_t *conns_of(const lc_conn_t *c) { return c->srv->conns; }

lc_conn_t *lc_conn_new(lc_conns_t *cs, void *t, lc_fmt_t fmt) {
    lc_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    lc_server_t *srv = cs->srv;
    c->srv = srv;
    c->t = t;
    c->refs = 1;
    c->fmt = (uint8_t)fmt;
    lc_list_init(&c->rlink);
    lc_list_init(&c->flink);
    lc_list_init(&c->queue);
    c->last_rx = (uint32_t)(uv_now(srv->loop) / 1000);
    c->jitter = (uint16_t)(srv->m.conns_total % (srv->cfg.ping_secs / 2 + 1));
    lc_list_push_front(&cs->all, &c->link);
    cs->count++;
    srv->m.conns_open++;
    srv->m.conns_total++;
    return c;
}

static void queue_free(lc_conn_t *c) {
    lc_list_foreach_safe(it, &c->queue) {
        lc_qitem_t *q = LC_CONTAINER_OF(it, lc_qitem_t, link);
        lc_frame_unref(q->f);
        free(q);
    }
    lc_list_init(&c->queue);
    c->qbytes = 0;
}

void lc_conn_closed(lc_conn_t *c) {
    lc_conns_t *cs = conns_of(c);
    queue_free(c);
    lc_list_remove(&c->link);
    cs->count--;
    c->t = NULL;
    c->srv->m.conns_open--;
    lc_conn_unref(c);
}

void lc_conn_unref(lc_conn_t *c) {
    if (--c->refs == 0) free(c);
}

void lc_conn_alive(lc_conn_t *c) {
    c->last_rx = (uint32_t)(uv_now(c->srv->loop) / 1000);
    c->pinged = 0;
}

void lc_conn_wake(lc_conn_t *c) {
    if (!c->t || c->want_write || lc_list_linked(&c->flink)) return;
    lc_conns_t *cs = conns_of(c);
    /* the flush list is in wake order, so also in due order: one delay for all */
    c->flush_at = (uint32_t)uv_now(c->srv->loop) + cs->delay_ms;
    lc_list_push_back(&cs->flush, &c->flink);
    lc_conn_ref(c);
}

void lc_conn_close(lc_conn_t *c, lc_close_t code, const char *why) {
    if (!c->t || c->close_code) return;
    c->close_code = (uint16_t)code;
    c->close_why = why;
    lc_conn_wake(c);
}

void lc_conn_cut(lc_conn_t *c) {
    if (!c->t || c->killed) return;
    c->killed = 1;
    c->close_sent = 1;                        /* no close frame: it could not be delivered */
    if (!c->close_code) c->close_code = LC_CLOSE_GOING_AWAY; /* nothing more is queued */
    conns_of(c)->io->kill(c->t);
}

void lc_conn_banned(lc_conn_t *c) {
    lc_conn_send_error(c, LC_ERR_BANNED, "banned from this room");
    lc_conn_close(c, LC_CLOSE_REVOKED, "banned");
}

void lc_conn_hello_failed(lc_conn_t *c) {
    c->hello_failed_ms = uv_now(c->srv->loop);
    if (c->hello_fails < UINT8_MAX) c->hello_fails++;
}

int lc_conn_take_token(lc_conn_t *c) {
    const lc_config_t *cfg = &c->srv->cfg;
    if (lc_bucket_take(&c->b_buy, cfg->buy_rate, cfg->buy_burst, uv_now(c->srv->loop))) {
        c->limited = 0;
        return 1;
    }
    c->srv->m.errors[LC_ERR_RATE_LIMITED]++; /* answered with a status, not an error frame */
    return 0;
}

int lc_conn_take_read(lc_conn_t *c) {
    if (lc_bucket_take(&c->b_read, LC_CONN_READ_RATE, LC_CONN_READ_BURST, uv_now(c->srv->loop))) return 1;
    c->srv->m.errors[LC_ERR_RATE_LIMITED]++;
    return 0;
}

void lc_conn_limited(lc_conn_t *c) {
    if (++c->limited >= c->srv->cfg.abuse_close) lc_conn_close(c, LC_CLOSE_POLICY, "rate limit exceeded");
}

void lc_conn_send(lc_conn_t *c, lc_frame_t *f) {
    if (lc_conn_closing(c)) return;
    uint32_t len = f->len[c->fmt];
    if (c->qbytes && c->qbytes + len > LC_CONN_QUEUE_MAX) { /* one big welcome always fits */
        /* The client does not read its own replies: stop, do not buffer. */
        c->srv->m.queue_closed++;
        queue_free(c);
        lc_conn_close(c, LC_CLOSE_POLICY, "too many unread replies");
        return;
    }
    lc_qitem_t *q = malloc(sizeof(*q));
    if (!q) {
        lc_conn_close(c, LC_CLOSE_INTERNAL, "out of memory");
        return;
    }
    q->f = lc_frame_ref(f);
    lc_list_push_back(&c->queue, &q->link);
    c->qbytes += len;
    lc_conn_wake(c);
}

void lc_conn_send_msg(lc_conn_t *c, const lc_msg_t *m) {
    if (lc_conn_closing(c)) return;
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

int lc_conn_answer_lost(lc_conn_t *c, int status, const lc_msg_t *r, lc_msg_type_t want, const char *fmt, ...) {
    if (status == LC_STORE_OK && r && r->type == want) return 0;
    c->srv->m.redis_failures++;
    if (status == LC_STORE_REFUSED) {
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
        return 1;
    }
    char text[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    lc_conn_send_error(c, LC_ERR_UNKNOWN, "%s", text);
    return 1;
}

/* ---- writing ---- */

static int transport_write(lc_conn_t *c, const uint8_t *p, size_t n) {
    c->srv->m.bytes_out += n;
    return conns_of(c)->io->write(c->t, p, n);
}

int lc_conn_batch_add(lc_conn_batch_t *b, const uint8_t *p, size_t n) {
    if (!b->buf || b->failed) return 0; /* a big frame went out alone: nothing more this time */
    lc_conn_t *c = b->c;
    if (b->n + n > LC_WRITE_BATCH) {
        if (b->n) return 0; /* full */
        if (transport_write(c, p, n) != 0) b->failed = 1; /* one frame larger than a batch */
        b->buf = NULL;
    } else {
        memcpy(b->buf + b->n, p, n);
        b->n += n;
    }
    c->srv->m.frames_out++;
    return 1;
}

int lc_conn_batch_add_frame(lc_conn_batch_t *b, lc_frame_t *f) {
    lc_conn_t *c = b->c;
    lc_conns_t *cs = conns_of(c);
    if (!c->deflate || !cs->z) return lc_conn_batch_add(b, f->data[c->fmt], f->len[c->fmt]);
    uint32_t n;
    const uint8_t *p = lc_deflate_wire(cs->z, f, c->fmt, &n);
    return lc_conn_batch_add(b, p, n);
}

/* Writes what c has pending -- its replies, then its room's traffic -- in
 * one batch. Returns -1 if the socket failed, else 0; *more says whether
 * something is left for later (the batch was full). */
static int write_pending(lc_conn_t *c, int *more) {
    lc_conns_t *cs = conns_of(c);
    lc_conn_batch_t b = {c, cs->wbuf, 0, 0};
    lc_list_t *it;
    while ((it = lc_list_first(&c->queue))) {
        lc_qitem_t *q = LC_CONTAINER_OF(it, lc_qitem_t, link);
        uint32_t len = q->f->len[c->fmt];
        if (!lc_conn_batch_add_frame(&b, q->f)) break;
        lc_list_remove(it);
        c->qbytes -= len;
        lc_frame_unref(q->f);
        free(q);
    }
    int more_room = 0;
    if (lc_list_empty(&c->queue) && !c->close_code && cs->fill) cs->fill(c, &b, &more_room);
    if (b.failed) return -1;
    if (b.n && b.buf && transport_write(c, b.buf, b.n) != 0) return -1;
    *more = !lc_list_empty(&c->queue) || more_room;
    return 0;
}

/* Asks the transport to say when the socket can take more: the path for
 * backpressure and for closing. The wait is timed (lc_conns_sweep): a
 * socket that takes nothing for --write-timeout-ms is cut. */
static void want_writable(lc_conn_t *c) {
    if (!c->t || c->want_write) return;
    c->want_write = 1;
    c->stall_ms = uv_now(c->srv->loop);
    c->stall_outq = UINT32_MAX; /* not looked at yet */
    conns_of(c)->io->want_writable(c->t);
}

/* Closing, with everything queued sent. We write the close frame ourselves
 * (Debian's libwebsockets 4.1 on libuv hangs up without the close frame
 * lws_close_reason() prepared: clients saw 1006). The first call writes the
 * frame and waits until the socket takes more, which the transport says
 * only once the frame is on the wire. Then the closing handshake: we wait
 * for the client's close frame, reading (and ignoring) what it still
 * sends, and hang up when it comes (lc_conn_peer_closed) or after
 * LC_CLOSE_WAIT_MS. Hanging up at once would close a socket with unread
 * input, which the kernel turns into a reset that can destroy our error
 * and close frames before the client has read them. */
static int close_step(lc_conn_t *c) {
    if (c->close_wait) return 0;
    if (c->close_sent) {
        c->close_wait = 1;
        c->close_wait_at = (uint32_t)uv_now(c->srv->loop);
        return 0;
    }
    const char *why = c->close_why ? c->close_why : "";
    uint8_t f[2 + 2 + 64];
    size_t n = strlen(why);
    if (n > 64) n = 64;
    f[0] = 0x88; /* FIN + close */
    f[1] = (uint8_t)(2 + n);
    f[2] = (uint8_t)(c->close_code >> 8);
    f[3] = (uint8_t)c->close_code;
    memcpy(f + 4, why, n);
    if (transport_write(c, f, 4 + n) != 0) return -1;
    c->close_sent = 1;
    want_writable(c);
    return 0;
}

int lc_conn_writable(lc_conn_t *c) {
    int more;
    c->want_write = 0;
    c->stall_ms = 0;
    if (!c->t || c->killed || write_pending(c, &more) != 0) return -1;
    if (more) want_writable(c);
    else if (c->close_code) return close_step(c);
    return 0;
}

static void flush_one(lc_conn_t *c) {
    const lc_conn_io_t *io = conns_of(c)->io;
    int more = 0;
    if (c->close_code || io->buffered(c->t)) {
        want_writable(c);
    } else if (write_pending(c, &more) != 0) {
        lc_conn_cut(c); /* the socket failed */
    } else if (more || io->buffered(c->t)) {
        want_writable(c);
    }
}

/* Flushes the woken connections whose wake is due (all: every one). With
 * --write-delay-ms a woken connection waits that long for more to write:
 * fewer, fuller segments when a room is hot. */
static void flush_due(lc_conns_t *cs, int all) {
    lc_list_t *it;
    uint32_t now = (uint32_t)uv_now(cs->srv->loop);
    while ((it = lc_list_first(&cs->flush))) {
        lc_conn_t *c = LC_CONTAINER_OF(it, lc_conn_t, flink);
        int32_t wait = (int32_t)(c->flush_at - now);
        if (!all && wait > 0) { /* (re)armed for the first one due: a stale timer does not count */
            uv_timer_start(&cs->delay, on_delay, (uint64_t)wait, 0);
            return;
        }
        lc_list_remove(it);
        if (c->t && !c->want_write && !c->killed) flush_one(c);
        lc_conn_unref(c);
    }
}

static void on_check(uv_check_t *h) { flush_due(h->data, 0); }
static void on_delay(uv_timer_t *t) { flush_due(t->data, 0); }
