/* libFuzzer: the HTTP side's parsing. Input: peer \n X-Forwarded-For \n
 * Sec-WebSocket-Protocol. The client address chosen is always the peer or
 * one entry of the header, and fits its buffer. */
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"
#include "lc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n > 4096) return 0;
    char *s = malloc(n + 1);
    if (!s) return 0;
    memcpy(s, d, n);
    s[n] = '\0';
    char *peer = s, *xff = strchr(peer, '\n'), *proto = NULL;
    if (xff) {
        *xff++ = '\0';
        proto = strchr(xff, '\n');
        if (proto) *proto++ = '\0';
    }
    char trusted[2][48] = {"127.0.0.1", "10.0.0.1"};
    char out[48];
    lc_http_client_ip(peer, xff ? xff : "", trusted, 2, out, sizeof(out));
    size_t len = strnlen(out, sizeof(out));
    if (len >= sizeof(out)) abort();
    if (strncmp(out, peer, sizeof(out) - 1) != 0 && (!xff || !strstr(xff, out))) abort();
    (void)lc_http_subprotocol_ok(proto ? proto : "");
    (void)lc_ident_valid(s, strnlen(s, 80));
    free(s);
    return 0;
}
