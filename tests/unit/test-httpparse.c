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

int main(void) {
    RUN(test_client_ip_is_the_peer_unless_a_trusted_proxy_forwards);
    RUN(test_client_ip_is_the_rightmost_untrusted_forwarded_entry);
    RUN(test_junk_forwarded_entry_keeps_the_peer);
    RUN(test_subprotocols_we_speak_or_none);
    return lc_test_done();
}
