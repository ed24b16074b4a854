/* libFuzzer: the HTTP side's parsing. Input: peer \n X-Forwarded-For \n
 * Sec-WebSocket-Protocol. The client address chosen is always the peer or
 * one entry of the header, and fits its buffer. The whole input is also a
 * chunked request body, fed in two pieces split where its first byte says:
 * the decoder never writes past its buffer, never takes more bytes than it
 * was given, and decodes the same fed at once or in pieces. */
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"
#include "lc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* Decodes p[0..n) fed in two pieces (split at k); -2 if it took a byte
 * that was not given, else the decoder's result. */
static int dechunk_split(const uint8_t *p, size_t n, size_t k, char *out, size_t cap, size_t *outn) {
    lc_http_dechunk_t dc = {0};
    size_t used = 0;
    *outn = 0;
    int rc = lc_http_dechunk(&dc, p, k, &used, out, cap, outn);
    if (rc >= 0 && used > k) return -2; /* *used is set unless the framing is bad */
    if (rc != 0) return rc;
    used = 0;
    rc = lc_http_dechunk(&dc, p + k, n - k, &used, out, cap, outn);
    return rc >= 0 && used > n - k ? -2 : rc;
}

static void check_dechunk(const uint8_t *d, size_t n) {
    char a[64], b[64];
    size_t an, bn;
    int ra = dechunk_split(d, n, n, a, sizeof(a), &an);
    int rb = dechunk_split(d, n, n ? d[0] % (n + 1) : 0, b, sizeof(b), &bn);
    if (ra == -2 || rb == -2 || ra != rb) abort();
    if (ra == 1 && (an != bn || memcmp(a, b, an < sizeof(a) ? an : sizeof(a)) != 0)) abort();
    (void)lc_http_ws_key_valid((const char *)d, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n > 4096) return 0;
    check_dechunk(d, n);
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
