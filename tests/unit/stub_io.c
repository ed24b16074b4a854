/*
 * A transport for unit tests: a "socket" that keeps every byte written.
 * See stub.h.
 */
#include <stdlib.h>
#include <string.h>

#include "stub.h"

static int w(void *t, const uint8_t *p, size_t n) {
    stub_sock_t *s = t;
    if (s->n + n > sizeof(s->out)) return -1;
    memcpy(s->out + s->n, p, n);
    s->n += n;
    s->writes++;
    return 0;
}
static int buffered(void *t) { return ((stub_sock_t *)t)->buffered; }
static void want(void *t) { ((stub_sock_t *)t)->want_writable++; }
static void kill_(void *t) { ((stub_sock_t *)t)->killed = 1; }
static uint32_t unsent(void *t) { return ((stub_sock_t *)t)->unsent; }

const lc_conn_io_t stub_io = {w, buffered, want, kill_, unsent};

/* Walks the server frames in s: calls fn(opcode, payload, n) for each. */
static void frames(const stub_sock_t *s, void (*fn)(void *arg, int op, const uint8_t *p, size_t n), void *arg) {
    size_t i = 0;
    while (i + 2 <= s->n) {
        int op = s->out[i] & 0x0f;
        size_t n = s->out[i + 1] & 0x7f, h = 2;
        if (n == 126) {
            n = ((size_t)s->out[i + 2] << 8) | s->out[i + 3];
            h = 4;
        } else if (n == 127) {
            n = 0;
            for (int k = 0; k < 8; k++) n = (n << 8) | s->out[i + 2 + k];
            h = 10;
        }
        if (i + h + n > s->n) return;
        fn(arg, op, s->out + i + h, n);
        i += h + n;
    }
}

typedef struct collect {
    lc_fmt_t fmt;
    lc_msg_t *msgs;
    size_t n, cap;
    int close_code;
} collect_t;

static void collect(void *arg, int op, const uint8_t *p, size_t n) {
    collect_t *c = arg;
    if (op == 0x8) {
        c->close_code = n >= 2 ? (p[0] << 8) | p[1] : 1005;
        return;
    }
    if ((op != 0x1 && op != 0x2) || !c->msgs || c->n == c->cap) return;
    lc_proto_err_t err;
    if (lc_msg_decode(&c->msgs[c->n], c->fmt, (lc_dir_t)(LC_DIR_S2C | LC_DIR_BUS), p, n, &err) == 0) c->n++;
}

size_t stub_frames(const stub_sock_t *s, lc_fmt_t fmt, lc_msg_t *msgs, size_t cap) {
    collect_t c = {fmt, msgs, 0, cap, 0};
    frames(s, collect, &c);
    return c.n;
}

int stub_close_code(const stub_sock_t *s) {
    collect_t c = {LC_FMT_JSON, NULL, 0, 0, 0};
    frames(s, collect, &c);
    return c.close_code;
}
