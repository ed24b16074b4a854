/*
 * lt-blast: a bench-only WebSocket source that floods every subscriber with
 * pre-framed text messages as fast as its socket takes them, so that the
 * load tool's reading ceiling can be measured without a server that would
 * saturate first (loadtest/bench-fastreader). It is a "raw" peer for
 * `livecart-load watch --proto raw`: no hello, no welcome; a connection
 * whose path starts with /pub (the tool's publisher) is only read.
 *
 *   lt-blast --port P [--size N] [--batch K] [--wait C] [--seconds S]
 *
 * One block of K frames of N payload bytes (default: as many as fit in 64
 * KiB) is built once and written again whenever the previous write of it
 * completed: per connection one write in flight, sharing the block, so the
 * source costs little more than the kernel's copies. A small K makes the
 * reader's work per frame look like a server that writes few frames at a
 * time. The flood starts once C connections are upgraded (default 1), so
 * that a crowd's handshakes are not slowed by it. Loopback only; it exits
 * after --seconds (default 120).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "wshake.h"

#define BLOCK (64 * 1024)
#define HEAD_CAP 4096

typedef struct blast {
    uv_loop_t *loop;
    uv_tcp_t server;
    uv_timer_t stop, tick;
    uint8_t *block;
    size_t block_len, frames_per_block;
    uint64_t blocks_written, conns, open, upgraded, wait;
    struct peer *waiting; /* upgraded before the flood began */
} blast_t;

typedef struct peer {
    uv_tcp_t tcp;
    uv_write_t wreq;
    blast_t *b;
    char head[HEAD_CAP];
    size_t hlen;
    int upgraded, flood, closing;
    struct peer *next_waiting;
    char reply[512];
} peer_t;

static void on_peer_closed(uv_handle_t *h) {
    peer_t *p = h->data;
    for (peer_t **q = &p->b->waiting; *q; q = &(*q)->next_waiting)
        if (*q == p) {
            *q = p->next_waiting;
            break;
        }
    free(p);
}

static void peer_close(peer_t *p) {
    if (p->closing) return;
    p->closing = 1;
    p->b->open--;
    uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
}

static void flood(peer_t *p);

static void on_block_written(uv_write_t *w, int status) {
    peer_t *p = w->data;
    if (status < 0 || p->closing) return;
    p->b->blocks_written++;
    flood(p);
}

static void flood(peer_t *p) {
    uv_buf_t buf = uv_buf_init((char *)p->b->block, (unsigned)p->b->block_len);
    p->wreq.data = p;
    if (uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &buf, 1, on_block_written) != 0) peer_close(p);
}

static void on_reply_written(uv_write_t *w, int status) {
    peer_t *p = w->data;
    if (status < 0) {
        peer_close(p);
        return;
    }
    if (!p->flood || p->closing) return;
    blast_t *b = p->b;
    if (b->upgraded < b->wait) { /* held until the crowd is in */
        p->next_waiting = b->waiting;
        b->waiting = p;
        return;
    }
    if (b->waiting) fprintf(stderr, "lt-blast: %llu connections in: flooding\n", (unsigned long long)b->upgraded);
    for (peer_t *q = b->waiting; q; q = q->next_waiting)
        if (!q->closing) flood(q);
    b->waiting = NULL;
    flood(p);
}

/* A header's value from the request head, into out. Returns 0 or -1. */
static int header(const char *head, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *s = strstr(head, "\r\n"); s; s = strstr(s + 2, "\r\n")) {
        if (strncasecmp(s + 2, name, nl) != 0 || s[2 + nl] != ':') continue;
        const char *v = s + 3 + nl;
        while (*v == ' ') v++;
        size_t n = strcspn(v, ",\r");
        if (n >= cap) return -1;
        memcpy(out, v, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

static void upgrade(peer_t *p) {
    char key[64], proto[64], accept[LT_WSH_ACCEPT_LEN + 1];
    if (header(p->head, "Sec-WebSocket-Key", key, sizeof(key)) != 0 || lt_wsh_accept(key, accept) != 0) {
        peer_close(p);
        return;
    }
    int has_proto = header(p->head, "Sec-WebSocket-Protocol", proto, sizeof(proto)) == 0;
    int n = snprintf(p->reply, sizeof(p->reply),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept, has_proto ? "Sec-WebSocket-Protocol: " : "", has_proto ? proto : "", has_proto ? "\r\n" : "");
    p->upgraded = 1;
    p->b->upgraded++;
    p->flood = strncmp(p->head, "GET /pub", 8) != 0;
    uv_buf_t buf = uv_buf_init(p->reply, (unsigned)n);
    p->wreq.data = p;
    if (uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &buf, 1, on_reply_written) != 0) peer_close(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    static char sink[65536]; /* what the clients send after the upgrade is read and dropped */
    peer_t *p = h->data;
    (void)suggested;
    if (!p->upgraded) *b = uv_buf_init(p->head + p->hlen, (unsigned)(HEAD_CAP - 1 - p->hlen));
    else *b = uv_buf_init(sink, sizeof(sink));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    peer_t *p = s->data;
    (void)buf;
    if (n < 0) {
        peer_close(p);
        return;
    }
    if (p->upgraded || n == 0) return; /* a close frame is followed by the client's EOF */
    p->hlen += (size_t)n;
    p->head[p->hlen] = '\0';
    if (strstr(p->head, "\r\n\r\n")) upgrade(p);
    else if (p->hlen >= HEAD_CAP - 1) peer_close(p);
}

static void on_conn(uv_stream_t *server, int status) {
    blast_t *b = server->data;
    if (status < 0) return;
    peer_t *p = calloc(1, sizeof(*p));
    if (!p) return;
    p->b = b;
    p->tcp.data = p;
    if (uv_tcp_init(b->loop, &p->tcp) != 0) {
        free(p);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&p->tcp) != 0 || uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read) != 0) {
        p->closing = 1;
        uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
        return;
    }
    (void)uv_tcp_nodelay(&p->tcp, 1); /* small --batch writes leave at once, as a server's do */
    b->conns++;
    b->open++;
}

static void on_tick(uv_timer_t *t) {
    blast_t *b = t->data;
    static uint64_t prev;
    uint64_t frames = b->blocks_written * b->frames_per_block;
    fprintf(stderr, "lt-blast: %llu open, %llu frames/s written\n", (unsigned long long)b->open,
            (unsigned long long)(frames - prev));
    prev = frames;
}

/* At the end: every handle closed, each peer freed in its close callback. */
static void walk_close(uv_handle_t *h, void *arg) {
    blast_t *b = arg;
    if (uv_is_closing(h)) return;
    int peer = h->type == UV_TCP && h != (uv_handle_t *)&b->server;
    if (peer) ((peer_t *)h->data)->closing = 1;
    uv_close(h, peer ? on_peer_closed : NULL);
}

static void on_stop(uv_timer_t *t) {
    blast_t *b = t->data;
    fprintf(stderr, "lt-blast: time is up; %llu frames written to %llu connections\n",
            (unsigned long long)(b->blocks_written * b->frames_per_block), (unsigned long long)b->conns);
    uv_stop(b->loop);
}

int main(int argc, char **argv) {
    int port = 0, size = 100, seconds = 120, batch = 0, wait = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--wait")) wait = atoi(argv[i + 1]);
        else return fprintf(stderr, "usage: lt-blast --port P [--size N] [--batch K] [--wait C] [--seconds S]\n"), 2;
    }
    if (port <= 0 || size < 1 || size > 125 || seconds < 1 || seconds > 3600 || batch < 0 || wait < 1)
        return fprintf(stderr, "lt-blast: --port P, --size 1..125, --batch K >= 0, --wait C >= 1, --seconds 1..3600\n"), 2;
    signal(SIGPIPE, SIG_IGN); /* a subscriber gone mid-write: the write fails instead */
    blast_t b;
    memset(&b, 0, sizeof(b));
    b.loop = uv_default_loop();
    /* the block: as many whole frames of `size` bytes as fit; the payload
     * is not "<seq>:<us>:" so a sampled viewer of the tool ignores it */
    size_t fl = 2 + (size_t)size;
    b.frames_per_block = batch > 0 && (size_t)batch < BLOCK / fl ? (size_t)batch : BLOCK / fl;
    b.wait = (uint64_t)wait;
    b.block_len = b.frames_per_block * fl;
    if (!(b.block = malloc(b.block_len))) return 1;
    for (size_t f = 0; f < b.frames_per_block; f++) {
        b.block[f * fl] = 0x81;
        b.block[f * fl + 1] = (uint8_t)size;
        memset(b.block + f * fl + 2, 'x', (size_t)size);
    }
    struct sockaddr_in addr;
    if (uv_ip4_addr("127.0.0.1", port, &addr) != 0 || uv_tcp_init(b.loop, &b.server) != 0 ||
        uv_tcp_bind(&b.server, (const struct sockaddr *)&addr, 0) != 0)
        return fprintf(stderr, "lt-blast: cannot bind 127.0.0.1:%d\n", port), 1;
    b.server.data = &b;
    if (uv_listen((uv_stream_t *)&b.server, 4096, on_conn) != 0) return fprintf(stderr, "lt-blast: cannot listen\n"), 1;
    uv_timer_init(b.loop, &b.stop);
    uv_timer_init(b.loop, &b.tick);
    b.stop.data = b.tick.data = &b;
    uv_timer_start(&b.stop, on_stop, (uint64_t)seconds * 1000, 0);
    uv_timer_start(&b.tick, on_tick, 5000, 5000);
    fprintf(stderr, "lt-blast: 127.0.0.1:%d, %zu frames of %d bytes per block\n", port, b.frames_per_block, size);
    uv_run(b.loop, UV_RUN_DEFAULT);
    uv_walk(b.loop, walk_close, &b);
    uv_run(b.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(b.loop) != 0) fprintf(stderr, "lt-blast: handles left open\n");
    uv_run(b.loop, UV_RUN_DEFAULT);
    free(b.block);
    return 0;
}
