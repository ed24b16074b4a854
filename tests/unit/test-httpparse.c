/* The HTTP side's parsing: which address a client has behind our proxies,
 * and which subprotocol headers we accept. */
#include <string.h>

#include "httpparse.h"
#include "lc_test.h"

static char trusted[2][48] = {"10.0.0.1", "10.0.0.2"};

static const char *ip(const char *peer, const char *xff) {
    static char out[48];
    lc_http_client_ip(peer, xff, trusted, 2, out, sizeof(out));
    return out;
}

static void test_client_ip_is_the_peer_unless_a_trusted_proxy_forwards(void) {
    CHECK(strcmp(ip("1.2.3.4", ""), "1.2.3.4") == 0);
    CHECK(strcmp(ip("1.2.3.4", "9.9.9.9"), "1.2.3.4") == 0); /* untrusted peer: its XFF is a lie */
    CHECK(strcmp(ip("10.0.0.1", "9.9.9.9"), "9.9.9.9") == 0);
    CHECK(strcmp(ip("10.0.0.1", ""), "10.0.0.1") == 0);
}

static void test_client_ip_is_the_rightmost_untrusted_forwarded_entry(void) {
    /* the client can prepend anything; only what our proxies appended counts */
    CHECK(strcmp(ip("10.0.0.1", "6.6.6.6, 9.9.9.9"), "9.9.9.9") == 0);
    CHECK(strcmp(ip("10.0.0.1", "6.6.6.6, 9.9.9.9, 10.0.0.2"), "9.9.9.9") == 0);
    CHECK(strcmp(ip("10.0.0.1", "10.0.0.2,10.0.0.1"), "10.0.0.1") == 0); /* all ours: the peer */
    CHECK(strcmp(ip("10.0.0.1", " 2001:db8::1 "), "2001:db8::1") == 0);
}

static void test_junk_forwarded_entry_keeps_the_peer(void) {
    CHECK(strcmp(ip("10.0.0.1", "evil\nheader"), "10.0.0.1") == 0);
    CHECK(strcmp(ip("10.0.0.1", "1.2.3.4; drop"), "10.0.0.1") == 0);
    CHECK(strcmp(ip("10.0.0.1", ",,,"), "10.0.0.1") == 0);
    char big[200];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(strcmp(ip("10.0.0.1", big), "10.0.0.1") == 0);
}

static void test_subprotocols_we_speak_or_none(void) {
    CHECK(lc_http_subprotocol_ok(""));
    CHECK(lc_http_subprotocol_ok("livecart.json"));
    CHECK(lc_http_subprotocol_ok("livecart.msgpack"));
    CHECK(lc_http_subprotocol_ok("other, livecart.msgpack"));
    CHECK(lc_http_subprotocol_ok(" , "));
    CHECK(!lc_http_subprotocol_ok("other"));
    CHECK(!lc_http_subprotocol_ok("livecart.jsonx"));
    CHECK(!lc_http_subprotocol_ok("livecart"));
}

static void test_only_loopback_addresses_count_as_local(void) {
    CHECK(lc_http_addr_is_loopback("127.0.0.1"));
    CHECK(lc_http_addr_is_loopback("127.8.9.10"));
    CHECK(lc_http_addr_is_loopback("::1"));
    CHECK(lc_http_addr_is_loopback("localhost"));
    CHECK(!lc_http_addr_is_loopback("0.0.0.0"));
    CHECK(!lc_http_addr_is_loopback("::"));
    CHECK(!lc_http_addr_is_loopback("10.0.0.5"));
    CHECK(!lc_http_addr_is_loopback("128.0.0.1"));
    CHECK(!lc_http_addr_is_loopback("example.com"));
}

/* Feeds in in pieces of `step` bytes; returns the last result, the decoded bytes in out. */
static int dechunk_in_steps(const char *in, size_t step, char *out, size_t cap, size_t *outn, size_t *rest) {
    lc_http_dechunk_t d = {0};
    size_t used = 0, n = strlen(in), off = 0;
    int rc = 0;
    *outn = 0;
    while (off < n && rc == 0) {
        size_t k = n - off < step ? n - off : step;
        rc = lc_http_dechunk(&d, (const unsigned char *)in + off, k, &used, out, cap, outn);
        off += used;
    }
    *rest = n - off;
    return rc;
}

static void test_a_chunked_body_decodes_whatever_the_pieces(void) {
    const char *node = "1f\r\n{\"type\":\"announce\",\"text\":\"hi\"}\r\n0\r\n\r\n";
    const char *want = "{\"type\":\"announce\",\"text\":\"hi\"}";
    char out[256];
    size_t outn, rest;
    for (size_t step = 1; step < 50; step += 7) {
        CHECK_EQ_INT(dechunk_in_steps(node, step, out, sizeof(out), &outn, &rest), 1);
        CHECK(outn == strlen(want) && memcmp(out, want, outn) == 0 && rest == 0);
    }
    /* extensions and trailers are dropped; what follows the body is not taken */
    const char *more = "a\r\n{\"type\":\"a\r\n15;x=y\r\nnnounce\",\"text\":\"hi\"}\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n";
    CHECK_EQ_INT(dechunk_in_steps(more, 1000, out, sizeof(out), &outn, &rest), 1);
    CHECK(outn == strlen(want) && memcmp(out, want, outn) == 0);
    CHECK(rest == strlen("GET / HTTP/1.1\r\n"));
    /* past cap: counted, not written */
    CHECK_EQ_INT(dechunk_in_steps(node, 3, out, 4, &outn, &rest), 1);
    CHECK(outn == strlen(want) && memcmp(out, want, 4) == 0);
}

static void test_malformed_chunking_is_refused(void) {
    char out[64];
    size_t outn, rest;
    const char *bad[] = {"zz\r\n", "3\r\nabcd\r\n", "3\nabc", "ffffffffffffffff\r\n", "\r\n",
                         "3\r\nabc\r\n0\r\nbad\ntrailer\r\n\r\n", NULL};
    for (int i = 0; bad[i]; i++) CHECK_EQ_INT(dechunk_in_steps(bad[i], 100, out, sizeof(out), &outn, &rest), -1);
    CHECK_EQ_INT(dechunk_in_steps("3\r\nab", 100, out, sizeof(out), &outn, &rest), 0); /* more needed */
}

static void test_websocket_keys_must_be_16_bytes_of_base64(void) {
    CHECK(lc_http_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24)); /* RFC 6455's example */
    CHECK(!lc_http_ws_key_valid("abc", 3));
    CHECK(!lc_http_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
    CHECK(!lc_http_ws_key_valid("dGhlIHNhbXBsZSBub25jZ===", 24));
    CHECK(!lc_http_ws_key_valid("dGhlIHNhbXBsZSBub25j!Q==", 24));
    CHECK(!lc_http_ws_key_valid("dGhlIHNhbXBsZSBub25jZQAA", 24));
}

static void test_content_length_is_plain_digits(void) {
    unsigned long long v = 7;
    CHECK(lc_http_content_length("0", &v) == 0 && v == 0);
    CHECK(lc_http_content_length("4096", &v) == 0 && v == 4096);
    CHECK(lc_http_content_length("999999999999999999", &v) == 0 && v == 999999999999999999ull);
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1,1", "1000000000000000000", NULL};
    for (int i = 0; bad[i]; i++) CHECK_EQ_INT(lc_http_content_length(bad[i], &v), -1);
}

static void test_reason_phrases(void) {
    CHECK(strcmp(lc_http_reason(404), "Not Found") == 0);
    CHECK(strcmp(lc_http_reason(426), "Upgrade Required") == 0);
    CHECK(strcmp(lc_http_reason(429), "Too Many Requests") == 0);
    CHECK(strcmp(lc_http_reason(299), "Error") == 0);
}

int main(void) {
    RUN(test_client_ip_is_the_peer_unless_a_trusted_proxy_forwards);
    RUN(test_client_ip_is_the_rightmost_untrusted_forwarded_entry);
    RUN(test_junk_forwarded_entry_keeps_the_peer);
    RUN(test_subprotocols_we_speak_or_none);
    RUN(test_only_loopback_addresses_count_as_local);
    RUN(test_a_chunked_body_decodes_whatever_the_pieces);
    RUN(test_malformed_chunking_is_refused);
    RUN(test_websocket_keys_must_be_16_bytes_of_base64);
    RUN(test_content_length_is_plain_digits);
    RUN(test_reason_phrases);
    return lc_test_done();
}
