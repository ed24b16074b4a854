/* The load tool's HTTP client (httpc.c, httpc_parse.c) and reservation
 * index (resv.c): answers are parsed whatever their framing, a kept
 * connection serves the next request, "Connection: close" makes a new one,
 * concurrency stays within max_conns, a silent server times out, and the
 * reservation index finds every order after growing. The server side is a
 * small libuv server in this process, counting what it accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "lc_test.h"
#include "resv.h"

static void test_head_parsing(void) {
    lt_http_head_t h;
    const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"ok\":true}\n";
    CHECK_EQ_INT(lt_http_parse_head(a, strlen(a), &h), 1);
    CHECK_EQ_INT(h.status, 200);
    CHECK_EQ_INT(h.content_length, 12);
    CHECK(h.close && !h.chunked);
    CHECK_EQ_INT(h.head_len, strlen(a) - 12);
    CHECK_EQ_INT(lt_http_parse_head(a, 20, &h), 0); /* more bytes needed */
    const char *b = "HTTP/1.1 409 Conflict\r\ntransfer-encoding: gzip, Chunked\r\nConnection: keep-alive\r\n\r\n";
    CHECK_EQ_INT(lt_http_parse_head(b, strlen(b), &h), 1);
    CHECK(h.status == 409 && h.chunked && !h.close && h.content_length == -1);
    const char *c = "HTTP/1.0 503 Unavailable\r\n\r\n";
    CHECK_EQ_INT(lt_http_parse_head(c, strlen(c), &h), 1);
    CHECK(h.close); /* 1.0 without keep-alive */
    CHECK_EQ_INT(lt_http_parse_head("SSH-2.0-OpenSSH\r\n\r\n", 19, &h), -1);
    CHECK_EQ_INT(lt_http_parse_head("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 39, &h), -1);
}

static void test_dechunk(void) {
    char a[] = "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n";
    size_t n = 0;
    CHECK_EQ_INT(lt_http_dechunk(a, 12, &n), 0); /* cut short: nothing moved */
    CHECK(memcmp(a, "4\r\nWiki", 7) == 0);
    CHECK_EQ_INT(lt_http_dechunk(a, strlen(a), &n), 1);
    CHECK(n == 9 && memcmp(a, "Wikipedia", 9) == 0);
    char b[] = "zz\r\n";
    CHECK_EQ_INT(lt_http_dechunk(b, strlen(b), &n), -1);
    char c[] = "0\r\nX-Trailer: 1\r\n\r\n";
    CHECK_EQ_INT(lt_http_dechunk(c, strlen(c), &n), 1);
    CHECK_EQ_INT(n, 0);
}

static void test_resv_index_finds_every_order_of_every_room_after_growing(void) {
    lt_resv_set_t s = {0};
    char id[42];
    int fresh, bad = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "1764350000%03d-%d", i % 1000, i / 1000);
        int k = lt_resv_add(&s, i % 3, id, strlen(id), &fresh);
        bad += k != i || !fresh;
        s.v[k].buyer = i;
    }
    CHECK_EQ_INT(bad, 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "1764350000%03d-%d", i % 1000, i / 1000);
        int k = lt_resv_find(&s, i % 3, id, strlen(id));
        bad += k < 0 || s.v[k].buyer != i;
        bad += lt_resv_add(&s, i % 3, id, strlen(id), &fresh) != k || fresh;
        bad += lt_resv_find(&s, i % 3 + 1, id, strlen(id)) >= 0; /* the same id in another room is another order */
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(lt_resv_find(&s, 0, "1-1", 3), -1);
    CHECK_EQ_INT(lt_resv_add(&s, 0, "", 0, &fresh), -1);
    lt_resv_free(&s);
}

/* ---- a tiny server: answers by path ---- */

typedef struct srv {
    uv_tcp_t listen;
    int accepts, open, max_open;
} srv_t;

typedef struct sconn {
    srv_t *srv;
    uv_tcp_t tcp;
    char buf[4096];
    size_t len;
    uv_write_t w;
    char out[512];
    int drop_next; /* close at the next request without answering it (an idle timeout's race) */
} sconn_t;

static void sconn_closed(uv_handle_t *h) {
    sconn_t *c = h->data;
    c->srv->open--;
    free(c);
}

static void s_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    sconn_t *c = h->data;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len - 1));
}

static void s_written(uv_write_t *w, int status) {
    sconn_t *c = w->data;
    if (strstr(c->out, "Connection: close")) uv_close((uv_handle_t *)&c->tcp, sconn_closed);
}

static void s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    sconn_t *c = st->data;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)st)) uv_close((uv_handle_t *)st, sconn_closed);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return;
    int slow = strncmp(c->buf, "GET /slow", 9) == 0;
    if (c->drop_next) {
        uv_close((uv_handle_t *)st, sconn_closed);
        return;
    }
    c->drop_next = strncmp(c->buf, "GET /kaonce", 11) == 0;
    if (strncmp(c->buf, "GET /close", 10) == 0)
        snprintf(c->out, sizeof(c->out), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nclose");
    else if (strncmp(c->buf, "POST /chunked", 13) == 0)
        snprintf(c->out, sizeof(c->out), "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                         "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    else
        snprintf(c->out, sizeof(c->out), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nka");
    c->len = 0;
    if (slow) return; /* never answered */
    uv_buf_t ob = uv_buf_init(c->out, (unsigned)strlen(c->out));
    c->w.data = c;
    uv_write(&c->w, st, &ob, 1, s_written);
}

static void s_accept(uv_stream_t *l, int status) {
    srv_t *s = l->data;
    sconn_t *c = calloc(1, sizeof(*c));
    c->srv = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, sconn_closed);
        return;
    }
    s->accepts++;
    if (++s->open > s->max_open) s->max_open = s->open;
    uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
}

/* ---- the client against it ---- */

typedef struct got {
    int n, status[16];
    char body[16][32];
} got_t;

static void on_answer(void *user, int status, const char *body, size_t n, uint64_t lat) {
    got_t *g = user;
    if (status < 0 || g->n >= 16) return;
    g->status[g->n] = status;
    snprintf(g->body[g->n], sizeof(g->body[0]), "%.*s", (int)n, body);
    g->n++;
}

static void run_until(uv_loop_t *loop, got_t *g, int n) {
    for (int i = 0; i < 2000 && g->n < n; i++) uv_run(loop, UV_RUN_ONCE);
}

static void test_client_keeps_closes_bounds_and_times_out(void) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_t s = {0};
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &s.listen);
    s.listen.data = &s;
    CHECK(uv_tcp_bind(&s.listen, (struct sockaddr *)&a, 0) == 0);
    CHECK(uv_listen((uv_stream_t *)&s.listen, 64, s_accept) == 0);
    int len = sizeof(a);
    uv_tcp_getsockname(&s.listen, (struct sockaddr *)&a, &len);
    lt_http_t *h = lt_http_create(&loop, "127.0.0.1", ntohs(a.sin_port), 2, 300);
    CHECK(h != NULL);
    got_t g = {0};
    for (int i = 0; i < 3; i++) { /* one after the other: one connection serves all */
        lt_http_request(h, "GET", "/ka", "key", NULL, on_answer, &g);
        run_until(&loop, &g, i + 1);
    }
    CHECK(g.n == 3 && g.status[2] == 200 && strcmp(g.body[2], "ka") == 0);
    CHECK_EQ_INT(s.accepts, 1);
    lt_http_request(h, "GET", "/close", NULL, NULL, on_answer, &g);
    lt_http_request(h, "POST", "/chunked", NULL, "{}", on_answer, &g);
    run_until(&loop, &g, 5);
    CHECK(g.n == 5 && strcmp(g.body[3], "close") == 0 && g.status[4] == 201 && strcmp(g.body[4], "abcde") == 0);
    for (int i = 0; i < 6; i++) lt_http_request(h, "GET", "/close", NULL, NULL, on_answer, &g);
    CHECK_EQ_INT(lt_http_pending(h), 6);
    run_until(&loop, &g, 11);
    CHECK_EQ_INT(g.n, 11);
    CHECK(s.max_open <= 2); /* max_conns */
    CHECK_EQ_INT(lt_http_pending(h), 0);
    lt_http_request(h, "GET", "/slow", NULL, NULL, on_answer, &g);
    run_until(&loop, &g, 12);
    CHECK(g.n == 12 && g.status[11] == 0 && strcmp(g.body[11], "timeout") == 0);
    /* a kept connection closed under the next request: sent again, once, on a new one */
    lt_http_request(h, "GET", "/kaonce", NULL, NULL, on_answer, &g);
    run_until(&loop, &g, 13);
    int before = s.accepts;
    lt_http_request(h, "GET", "/ka", NULL, NULL, on_answer, &g);
    run_until(&loop, &g, 14);
    CHECK(g.n == 14 && g.status[12] == 200 && g.status[13] == 200 && strcmp(g.body[13], "ka") == 0);
    CHECK_EQ_INT(s.accepts, before + 1);
    lt_http_request(h, "GET", "/slow", NULL, NULL, on_answer, &g); /* dropped by the destroy */
    for (int i = 0; i < 5; i++) uv_run(&loop, UV_RUN_NOWAIT);
    lt_http_destroy(h);
    CHECK_EQ_INT(g.n, 14);
    uv_close((uv_handle_t *)&s.listen, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* the server sees the client's closes and closes too */
    CHECK_EQ_INT(s.open, 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

int main(void) {
    RUN(test_head_parsing);
    RUN(test_dechunk);
    RUN(test_resv_index_finds_every_order_of_every_room_after_growing);
    RUN(test_client_keeps_closes_bounds_and_times_out);
    return lc_test_done();
}
