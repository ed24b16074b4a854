/* The lean reader's frame walker (wsframe.c) and handshake check
 * (wshake.c), over bytes made here: a stream is walked the same whatever
 * the reads cut it into (headers split anywhere, 7-, 16- and 64-bit
 * lengths), a ping inside a fragmented message is answered without
 * breaking the count, small messages are peeked whole, and every framing
 * error is named. */
#include <stdlib.h>
#include <string.h>

#include "lc_test.h"
#include "wsframe.h"
#include "wshake.h"

/* Appends one server frame (unmasked) to buf; returns the new length. */
static size_t put(uint8_t *buf, size_t at, int fin, int op, size_t n, uint8_t fill) {
    buf[at++] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        buf[at++] = (uint8_t)n;
    } else if (n <= 0xffff) {
        buf[at++] = 126;
        buf[at++] = (uint8_t)(n >> 8);
        buf[at++] = (uint8_t)n;
    } else {
        buf[at++] = 127;
        for (int i = 7; i >= 0; i--) buf[at++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memset(buf + at, fill, n);
    return at + n;
}

typedef struct seen {
    int pings, pongs, closes, peeked, stop_at_close;
    size_t ping_len, peek_len[8];
    uint8_t ping_byte, peek_byte[8];
    int close_code;
    uint64_t msgs_before_ping; /* r->msgs when the ping came: counted messages before it */
    lt_wsr_t *r;
} seen_t;

static int cb(void *arg, int op, const uint8_t *p, size_t n) {
    seen_t *s = arg;
    if (op == LT_WS_PING) {
        s->pings++;
        s->ping_len = n;
        s->ping_byte = n ? p[0] : 0;
        s->msgs_before_ping = s->r->msgs;
    } else if (op == LT_WS_PONG) {
        s->pongs++;
    } else if (op == LT_WS_CLOSE) {
        s->closes++;
        s->close_code = n >= 2 ? p[0] << 8 | p[1] : 0;
        return s->stop_at_close ? 7 : 0;
    } else if (s->peeked < 8) {
        s->peek_len[s->peeked] = n;
        int same = 1;
        for (size_t i = 0; i < n; i++) same &= p[i] == p[0];
        s->peek_byte[s->peeked++] = n && same ? p[0] : 0;
    }
    return 0;
}

/* A stream: text 5 B, binary 200 B (16-bit length), binary 70,000 B
 * (64-bit length), a text message in three fragments with a ping (3 B)
 * between the first two, an empty text message, then close 1000. */
static size_t make_stream(uint8_t *buf) {
    size_t n = 0;
    n = put(buf, n, 1, LT_WS_TEXT, 5, 'a');
    n = put(buf, n, 1, LT_WS_BINARY, 200, 'b');
    n = put(buf, n, 1, LT_WS_BINARY, 70000, 'c');
    n = put(buf, n, 0, LT_WS_TEXT, 10, 'd');
    n = put(buf, n, 1, LT_WS_PING, 3, 'p');
    n = put(buf, n, 0, LT_WS_CONT, 300, 'd');
    n = put(buf, n, 1, LT_WS_CONT, 1, 'd');
    n = put(buf, n, 1, LT_WS_TEXT, 0, 0);
    buf[n++] = 0x88;
    buf[n++] = 2;
    buf[n++] = 0x03;
    buf[n++] = 0xe8;
    return n;
}

static void test_stream_walks_the_same_however_reads_cut_it(void) {
    static uint8_t buf[80000];
    size_t len = make_stream(buf);
    size_t chunks[] = {1, 2, 3, 5, 7, 13, 64, 1000, 4096, len};
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        lt_wsr_t r;
        seen_t s = {0};
        s.r = &r;
        lt_wsr_init(&r, NULL, 0);
        int rc = 0;
        for (size_t off = 0; off < len && rc == 0; off += chunks[k]) {
            size_t n = len - off < chunks[k] ? len - off : chunks[k];
            rc = lt_wsr_feed(&r, buf + off, n, cb, &s);
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(r.msgs, 5);
        CHECK_EQ_INT(r.bytes, 5 + 200 + 70000 + 311 + 0);
        CHECK_EQ_INT(s.pings, 1);
        CHECK(s.ping_len == 3 && s.ping_byte == 'p');
        CHECK_EQ_INT(s.msgs_before_ping, 3); /* the fragmented message is not counted before its end */
        CHECK_EQ_INT(s.closes, 1);
        CHECK_EQ_INT(s.close_code, 1000);
        CHECK_EQ_INT(r.left, 0);
        CHECK_EQ_INT(r.hlen, 0);
        CHECK(!r.in_msg);
    }
}

static void test_lengths_of_16_and_64_bits_at_their_edges(void) {
    static uint8_t buf[140000];
    size_t sizes[] = {125, 126, 127, 65535, 65536, 131071};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = put(buf, 0, 1, LT_WS_BINARY, sizes[k], 'x');
        size_t hdr = n - sizes[k];
        CHECK_EQ_INT(hdr, sizes[k] < 126 ? 2 : sizes[k] <= 0xffff ? 4 : 10);
        lt_wsr_t r;
        lt_wsr_init(&r, NULL, 0);
        /* cut inside the extended length */
        CHECK_EQ_INT(lt_wsr_feed(&r, buf, 3, NULL, NULL), 0);
        CHECK_EQ_INT(lt_wsr_feed(&r, buf + 3, n - 3, NULL, NULL), 0);
        CHECK_EQ_INT(r.msgs, 1);
        CHECK_EQ_INT(r.bytes, sizes[k]);
    }
}

static void test_small_messages_are_peeked_whole_and_large_ones_counted(void) {
    static uint8_t buf[4096];
    size_t n = 0;
    n = put(buf, n, 1, LT_WS_TEXT, 40, 'h');    /* peeked */
    n = put(buf, n, 1, LT_WS_TEXT, 97, 'x');    /* one byte over: counted */
    n = put(buf, n, 0, LT_WS_TEXT, 30, 'f');    /* fragments of a 90-byte message: peeked whole */
    n = put(buf, n, 1, LT_WS_PING, 0, 0);
    n = put(buf, n, 1, LT_WS_CONT, 60, 'f');
    n = put(buf, n, 0, LT_WS_TEXT, 50, 'g');    /* fragments of 150 bytes: counted */
    n = put(buf, n, 1, LT_WS_CONT, 100, 'g');
    uint8_t pbuf[96];
    for (size_t cut = 1; cut < n; cut += 7) {
        lt_wsr_t r;
        seen_t s = {0};
        s.r = &r;
        lt_wsr_init(&r, pbuf, sizeof(pbuf));
        CHECK_EQ_INT(lt_wsr_feed(&r, buf, cut, cb, &s), 0);
        CHECK_EQ_INT(lt_wsr_feed(&r, buf + cut, n - cut, cb, &s), 0);
        CHECK_EQ_INT(s.peeked, 2);
        CHECK(s.peek_len[0] == 40 && s.peek_byte[0] == 'h');
        CHECK(s.peek_len[1] == 90 && s.peek_byte[1] == 'f');
        CHECK_EQ_INT(r.msgs, 2);
        CHECK_EQ_INT(r.bytes, 97 + 150);
        CHECK_EQ_INT(s.pings, 1);
    }
}

static void test_a_callback_stops_the_walk(void) {
    uint8_t buf[64];
    size_t n = put(buf, 0, 1, LT_WS_CLOSE, 2, 0x03);
    n = put(buf, n, 1, LT_WS_TEXT, 4, 'z');
    lt_wsr_t r;
    seen_t s = {.stop_at_close = 1};
    s.r = &r;
    lt_wsr_init(&r, NULL, 0);
    CHECK_EQ_INT(lt_wsr_feed(&r, buf, n, cb, &s), 7);
    CHECK_EQ_INT(r.msgs, 0); /* nothing after the close was walked */
}

/* Feeds two bytes of header plus extra, expecting err. */
static void expect_err(const uint8_t *h, size_t n, int want_op, int err, const char *what) {
    lt_wsr_t r;
    lt_wsr_init(&r, NULL, 0);
    r.want_op = (uint8_t)want_op;
    int rc = lt_wsr_feed(&r, h, n, NULL, NULL);
    if (rc != err) fprintf(stderr, "  %s: got %d (%s), want %d\n", what, rc, lt_wsr_strerror(rc), err);
    CHECK_EQ_INT(rc, err);
}

static void test_framing_errors_are_named(void) {
    const uint8_t op3[] = {0x83, 0x00}, op11[] = {0x8b, 0x00};
    expect_err(op3, 2, 0, LT_WSR_EOPCODE, "opcode 3");
    expect_err(op11, 2, 0, LT_WSR_EOPCODE, "opcode 11");
    const uint8_t masked[] = {0x81, 0x81, 1, 2, 3, 4, 'x'};
    expect_err(masked, sizeof(masked), 0, LT_WSR_EMASK, "masked");
    const uint8_t rsv1[] = {0xc1, 0x00};
    expect_err(rsv1, 2, 0, LT_WSR_ERSV, "rsv1 (an extension never offered)");
    { /* with permessage-deflate: RSV1 on a text/binary frame is a compressed message; never on
       * a continuation or a control frame, and RSV2/RSV3 stay errors */
        lt_wsr_t r;
        lt_wsr_init(&r, NULL, 0);
        r.rsv1_ok = 1;
        const uint8_t zmsg[] = {0xc1, 0x02, 0xab, 0xcd, 0xc2, 0x00};
        CHECK_EQ_INT(lt_wsr_feed(&r, zmsg, sizeof(zmsg), NULL, NULL), 0);
        CHECK_EQ_INT(r.msgs, 2);
        const uint8_t bad[][2] = {{0xc9, 0x00}, {0xa1, 0x00}, {0x90 | 0x01, 0x00}};
        for (int i = 0; i < 3; i++) {
            lt_wsr_init(&r, NULL, 0);
            r.rsv1_ok = 1;
            CHECK_EQ_INT(lt_wsr_feed(&r, bad[i], 2, NULL, NULL), LT_WSR_ERSV);
        }
        const uint8_t zcont[] = {0x41, 0x01, 'a', 0xc0, 0x01, 'b'};
        lt_wsr_init(&r, NULL, 0);
        r.rsv1_ok = 1;
        CHECK_EQ_INT(lt_wsr_feed(&r, zcont, sizeof(zcont), NULL, NULL), LT_WSR_ERSV);
    }
    const uint8_t big_ping[] = {0x89, 126, 0, 126};
    expect_err(big_ping, sizeof(big_ping), 0, LT_WSR_ECTRL, "ping of 126 bytes");
    const uint8_t frag_ping[] = {0x09, 0x00};
    expect_err(frag_ping, 2, 0, LT_WSR_ECTRL, "fragmented ping");
    const uint8_t lone_cont[] = {0x80, 0x00};
    expect_err(lone_cont, 2, 0, LT_WSR_ECONT, "continuation outside a message");
    const uint8_t text_in_frag[] = {0x01, 0x00, 0x81, 0x00};
    expect_err(text_in_frag, sizeof(text_in_frag), 0, LT_WSR_ECONT, "a message inside a fragmented one");
    const uint8_t long16[] = {0x82, 126, 0, 125};
    expect_err(long16, sizeof(long16), 0, LT_WSR_ELEN, "16-bit length under 126");
    const uint8_t long64[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    expect_err(long64, sizeof(long64), 0, LT_WSR_ELEN, "64-bit length under 65536");
    const uint8_t top64[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_err(top64, sizeof(top64), 0, LT_WSR_ELEN, "64-bit length with the top bit");
    const uint8_t close1[] = {0x88, 0x01, 0x03};
    expect_err(close1, sizeof(close1), 0, LT_WSR_ECLOSE, "close with one byte");
    const uint8_t text[] = {0x81, 0x01, 'x'};
    expect_err(text, sizeof(text), LT_WS_BINARY, LT_WSR_EKIND, "text on a msgpack connection");
    /* a bad opcode after good frames, its header cut across reads */
    uint8_t buf[32];
    size_t n = put(buf, 0, 1, LT_WS_TEXT, 3, 'o');
    buf[n++] = 0x87;
    buf[n++] = 0x00;
    lt_wsr_t r;
    lt_wsr_init(&r, NULL, 0);
    CHECK_EQ_INT(lt_wsr_feed(&r, buf, n - 1, NULL, NULL), 0);
    CHECK_EQ_INT(r.msgs, 1);
    CHECK_EQ_INT(lt_wsr_feed(&r, buf + n - 1, 1, NULL, NULL), LT_WSR_EOPCODE);
}

static void test_accept_key_and_answer_check(void) {
    char acc[LT_WSH_ACCEPT_LEN + 1];
    CHECK_EQ_INT(lt_wsh_accept("dGhlIHNhbXBsZSBub25jZQ==", acc), 0); /* RFC 6455 §1.3's example */
    CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    uint32_t st = 1;
    char k1[LT_WSH_KEY_LEN + 1], k2[LT_WSH_KEY_LEN + 1];
    lt_wsh_key(&st, k1);
    lt_wsh_key(&st, k2);
    CHECK(strlen(k1) == 24 && strcmp(k1, k2) != 0);
    char req[512];
    CHECK(lt_wsh_request(req, sizeof(req), "127.0.0.1", 8080, "/live?room=r", "livecart.json", NULL, k1) > 0);
    CHECK(strstr(req, "GET /live?room=r HTTP/1.1\r\n") && strstr(req, "Sec-WebSocket-Protocol: livecart.json\r\n"));
    CHECK(lt_wsh_request(req, 40, "127.0.0.1", 8080, "/live", NULL, NULL, k1) == -1);

    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: livecart.json\r\n\r\n\x81";
    lt_wsh_answer_t a;
    size_t n = strlen(ok);
    CHECK_EQ_INT(lt_wsh_check(ok, n, acc, "livecart.json", NULL, &a), 1);
    CHECK_EQ_INT(a.head_len, n - 1); /* the frame byte after the head is not the head's */
    CHECK_EQ_INT(lt_wsh_check(ok, 30, acc, "livecart.json", NULL, &a), 0);
    CHECK_EQ_INT(lt_wsh_check(ok, n, acc, "livecart.msgpack", NULL, &a), -1); /* not the one offered */
    CHECK_EQ_INT(lt_wsh_check(ok, n, acc, NULL, NULL, &a), -1);                /* none offered */
    CHECK_EQ_INT(lt_wsh_check(ok, n, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "livecart.json", NULL, &a), -1);
    CHECK(a.err && strstr(a.err, "Accept"));
    const char *ext = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    CHECK_EQ_INT(lt_wsh_check(ext, strlen(ext), acc, NULL, NULL, &a), -1);
    /* --deflate: the offer is sent, and the extension we offered is taken */
    CHECK(lt_wsh_request(req, sizeof(req), "h", 1, "/", NULL, "permessage-deflate", k1) > 0);
    CHECK(strstr(req, "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n") != NULL);
    CHECK_EQ_INT(lt_wsh_check(ext, strlen(ext), acc, NULL, "permessage-deflate", &a), 1);
    CHECK_EQ_INT(a.deflate, 1);
    CHECK_EQ_INT(lt_wsh_check(ok, n, acc, "livecart.json", "permessage-deflate", &a), 1);
    CHECK_EQ_INT(a.deflate, 0); /* offered, not taken: plain frames */
    const char *busy = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n";
    CHECK_EQ_INT(lt_wsh_check(busy, strlen(busy), acc, NULL, NULL, &a), -1);
    CHECK(a.status == 503 && a.retry_after == 3);
}

int main(void) {
    RUN(test_stream_walks_the_same_however_reads_cut_it);
    RUN(test_lengths_of_16_and_64_bits_at_their_edges);
    RUN(test_small_messages_are_peeked_whole_and_large_ones_counted);
    RUN(test_a_callback_stops_the_walk);
    RUN(test_framing_errors_are_named);
    RUN(test_accept_key_and_answer_check);
    return lc_test_done();
}
