/*
 * permessage-deflate (server/deflate.c): shared frames compressed once and
 * lazily, what stays plain, and the one inflater of client messages --
 * checked against zlib used independently (a fresh inflater per message,
 * as a client that keeps no context would).
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate.h"
#include "frame.h"
#include "lc_test.h"

static const char COMMENT[] =
    "{\"type\":\"comment\",\"id\":\"1733100000000-7\",\"user\":\"mei_li\",\"text\":"
    "\"does the blue one come in size M? asking for my sister, she loves this stream\"}";

/* Inflates a server frame's payload (tail put back) with a fresh zlib stream. */
static size_t inflate_fresh(const uint8_t *p, size_t n, uint8_t *out, size_t cap) {
    z_stream s;
    memset(&s, 0, sizeof(s));
    if (inflateInit2(&s, -15) != Z_OK) return 0;
    uint8_t *in = malloc(n + 4);
    memcpy(in, p, n);
    memcpy(in + n, "\x00\x00\xff\xff", 4);
    s.next_in = in;
    s.avail_in = (uInt)(n + 4);
    s.next_out = out;
    s.avail_out = (uInt)cap;
    int rc = inflate(&s, Z_SYNC_FLUSH);
    size_t got = cap - s.avail_out;
    inflateEnd(&s);
    free(in);
    return rc == Z_OK || rc == Z_STREAM_END ? got : 0;
}

static size_t payload_at(const uint8_t *f, size_t *n) {
    uint8_t l7 = f[1] & 0x7f;
    size_t hl = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    *n = l7 < 126 ? l7 : l7 == 126 ? ((size_t)f[2] << 8 | f[3]) : 0;
    return hl;
}

static void test_a_shared_frame_is_compressed_once_and_decodes_alone(void) {
    lc_metrics_deflate_t st = {0};
    lc_deflate_t *z = lc_deflate_new(6, &st);
    CHECK(z != NULL);
    lc_frame_t *f = lc_frame_new(COMMENT, strlen(COMMENT), COMMENT, strlen(COMMENT));
    CHECK(f && !f->zdata[0] && !f->zdata[1]);
    uint32_t n1, n2;
    const uint8_t *a = lc_deflate_wire(z, f, LC_FMT_JSON, &n1);
    const uint8_t *b = lc_deflate_wire(z, f, LC_FMT_JSON, &n2);
    CHECK(a == b && n1 == n2); /* the second connection gets the same bytes */
    CHECK_EQ_INT(st.frames, 1);
    CHECK(a[0] == (0x80 | 0x40 | 0x1)); /* FIN, RSV1, text */
    CHECK(n1 < f->len[LC_FMT_JSON]);
    size_t pn, hl = payload_at(a, &pn);
    CHECK_EQ_INT(hl + pn, n1);
    uint8_t out[1024];
    size_t got = inflate_fresh(a + hl, pn, out, sizeof(out));
    CHECK_EQ_INT(got, strlen(COMMENT));
    CHECK(memcmp(out, COMMENT, got) == 0);
    /* the other format is its own compression, binary opcode */
    const uint8_t *m = lc_deflate_wire(z, f, LC_FMT_MSGPACK, &n2);
    CHECK(m != a && m[0] == (0x80 | 0x40 | 0x2));
    CHECK_EQ_INT(st.frames, 2);
    CHECK_EQ_INT(st.bytes_in, 2 * strlen(COMMENT));
    lc_frame_unref(f); /* frees the compressed copies too (ASan tells) */
    lc_deflate_free(z);
}

static void test_short_frames_and_control_frames_stay_plain(void) {
    lc_metrics_deflate_t st = {0};
    lc_deflate_t *z = lc_deflate_new(6, &st);
    lc_frame_t *f = lc_frame_new("{\"type\":\"pong\"}", 15, "x", 1);
    uint32_t n;
    const uint8_t *p = lc_deflate_wire(z, f, LC_FMT_JSON, &n);
    CHECK(p == f->data[LC_FMT_JSON] && n == f->len[LC_FMT_JSON]);
    CHECK_EQ_INT(st.plain, 1);
    lc_deflate_wire(z, f, LC_FMT_JSON, &n);
    CHECK_EQ_INT(st.plain, 1); /* decided once */
    static const uint8_t ping[3] = {0x89, 0x01, 'k'};
    lc_frame_t *c = lc_frame_control(ping, sizeof(ping));
    p = lc_deflate_wire(z, c, LC_FMT_JSON, &n);
    CHECK(p == c->data[LC_FMT_JSON] && n == 3);
    /* incompressible bytes stay plain: no bigger frame ever goes out */
    uint8_t noise[600];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof(noise); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (uint8_t)x;
    }
    CHECK(lc_deflate_frame(z, noise, sizeof(noise), 1, &n) == NULL);
    /* a frame for one connection: compressed only from LC_DEFLATE_MIN_UNICAST on */
    lc_frame_t *u = lc_frame_new(COMMENT, strlen(COMMENT), NULL, 0);
    u->unicast = 1;
    p = lc_deflate_wire(z, u, LC_FMT_JSON, &n);
    CHECK(p == u->data[LC_FMT_JSON]);
    char big[LC_DEFLATE_MIN_UNICAST + 100];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = COMMENT[i % (sizeof(COMMENT) - 1)];
    lc_frame_t *w = lc_frame_new(big, sizeof(big), NULL, 0);
    w->unicast = 1;
    p = lc_deflate_wire(z, w, LC_FMT_JSON, &n);
    CHECK(p != w->data[LC_FMT_JSON] && (p[0] & 0x40));
    lc_frame_unref(u);
    lc_frame_unref(w);
    lc_frame_unref(f);
    lc_frame_unref(c);
    lc_deflate_free(z);
}

static void test_large_frames_get_the_right_header_lengths(void) {
    lc_metrics_deflate_t st = {0};
    lc_deflate_t *z = lc_deflate_new(1, &st);
    size_t n = 70000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = "live shopping "[i % 14];
    lc_frame_t *f = lc_frame_new(big, n, big, n);
    uint32_t zn;
    const uint8_t *p = lc_deflate_wire(z, f, LC_FMT_JSON, &zn);
    CHECK(p[0] & 0x40);
    size_t pn, hl = payload_at(p, &pn);
    CHECK_EQ_INT(hl + pn, zn);
    uint8_t *out = malloc(n + 16);
    CHECK_EQ_INT(inflate_fresh(p + hl, pn, out, n + 16), n);
    CHECK(memcmp(out, big, n) == 0);
    free(out);
    free(big);
    lc_frame_unref(f);
    lc_deflate_free(z);
}

/* A client's compressor, fresh for each message (client_no_context_takeover). */
static size_t client_deflate(const char *msg, size_t n, uint8_t *out, size_t cap) {
    z_stream s;
    memset(&s, 0, sizeof(s));
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    s.next_in = (Bytef *)msg;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    deflate(&s, Z_SYNC_FLUSH);
    size_t got = cap - s.avail_out;
    deflateEnd(&s);
    return got - 4; /* the tail stripped */
}

static void test_one_inflater_serves_every_client_message(void) {
    lc_inflate_t *z = lc_inflate_new();
    CHECK(z != NULL);
    uint8_t wire[8192], out[4096];
    size_t len;
    for (int i = 0; i < 3; i++) { /* several messages: nothing carries over */
        const char *msg = i == 1 ? "{\"type\":\"like\",\"count\":3}" : COMMENT;
        size_t wn = client_deflate(msg, strlen(msg), wire, sizeof(wire));
        CHECK_EQ_INT(lc_inflate_msg(z, wire, wn, out, sizeof(out), &len), 0);
        CHECK_EQ_INT(len, strlen(msg));
        CHECK(memcmp(out, msg, len) == 0);
    }
    /* exactly the bound inflates; one byte more is too large */
    char *fill = malloc(4097);
    memset(fill, 'a', 4097);
    size_t wn = client_deflate(fill, 4096, wire, sizeof(wire));
    CHECK_EQ_INT(lc_inflate_msg(z, wire, wn, out, 4096, &len), 0);
    CHECK_EQ_INT(len, 4096);
    wn = client_deflate(fill, 4097, wire, sizeof(wire));
    CHECK_EQ_INT(lc_inflate_msg(z, wire, wn, out, 4096, &len), 1);
    free(fill);
    /* garbage is refused, and the inflater still works after it */
    static const uint8_t bad[] = {0xff, 0xfe, 0xfd, 0x00, 0x01, 0x02};
    CHECK_EQ_INT(lc_inflate_msg(z, bad, sizeof(bad), out, sizeof(out), &len), -1);
    wn = client_deflate(COMMENT, strlen(COMMENT), wire, sizeof(wire));
    CHECK_EQ_INT(lc_inflate_msg(z, wire, wn, out, sizeof(out), &len), 0);
    CHECK_EQ_INT(len, strlen(COMMENT));
    /* an empty compressed message (RFC 7692 7.2.3.6: a single 0x00) is an empty message */
    static const uint8_t empty[] = {0x00};
    CHECK_EQ_INT(lc_inflate_msg(z, empty, 1, out, sizeof(out), &len), 0);
    CHECK_EQ_INT(len, 0);
    lc_inflate_free(z);
}

int main(void) {
    RUN(test_a_shared_frame_is_compressed_once_and_decodes_alone);
    RUN(test_short_frames_and_control_frames_stay_plain);
    RUN(test_large_frames_get_the_right_header_lengths);
    RUN(test_one_inflater_serves_every_client_message);
    return lc_test_done();
}
