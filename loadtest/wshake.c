#include "wshake.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httptok.h"

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void lt_wsh_key(uint32_t *state, char key[LT_WSH_KEY_LEN + 1]) {
    unsigned char raw[16];
    uint32_t x = *state ? *state : 0x9e3779b9u;
    for (int i = 0; i < 16; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(raw + i, &x, 4);
    }
    *state = x;
    EVP_EncodeBlock((unsigned char *)key, raw, 16);
}

int lt_wsh_accept(const char *key, char out[LT_WSH_ACCEPT_LEN + 1]) {
    char in[LT_WSH_KEY_LEN + sizeof(guid)];
    size_t kl = strlen(key);
    if (kl != LT_WSH_KEY_LEN) return -1;
    memcpy(in, key, kl);
    memcpy(in + kl, guid, sizeof(guid) - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    if (EVP_Digest(in, kl + sizeof(guid) - 1, md, &ml, EVP_sha1(), NULL) != 1 || ml != 20) return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    return 0;
}

int lt_wsh_request(char *out, size_t cap, const char *host, int port, const char *path, const char *proto,
                   const char *ext, const char *key) {
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: http://%s\r\n%s%s%s%s%s%s\r\n",
                     path, host, port, key, host, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                     proto ? "\r\n" : "", ext ? "Sec-WebSocket-Extensions: " : "", ext ? ext : "",
                     ext ? "\r\n" : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int is(const char *name, size_t nl, const char *want) {
    return nl == strlen(want) && strncasecmp(name, want, nl) == 0;
}

static int equals(const char *v, size_t vl, const char *want) {
    return vl == strlen(want) && memcmp(v, want, vl) == 0;
}

static int fail(lt_wsh_answer_t *a, const char *err) {
    a->err = err;
    return -1;
}

int lt_wsh_check(const char *p, size_t n, const char *accept, const char *proto, const char *ext,
                 lt_wsh_answer_t *a) {
    memset(a, 0, sizeof(*a));
    const char *end = NULL;
    for (size_t i = 0; i + 3 < n && !end; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') end = p + i + 2;
    if (!end) return n > 8192 ? fail(a, "answer head over 8 KiB") : 0;
    a->head_len = (size_t)(end + 2 - p);
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') return fail(a, "not an HTTP answer");
    a->status = atoi(p + 9);
    int upgrade = 0, connection = 0, got_accept = 0, got_proto = 0;
    const char *line = memchr(p, '\n', (size_t)(end - p));
    while (line && line + 1 < end) {
        const char *s = line + 1;
        const char *e = memchr(s, '\r', (size_t)(end - s));
        if (!e) break;
        line = e + 1;
        const char *colon = memchr(s, ':', (size_t)(e - s));
        if (!colon) return fail(a, "bad header line");
        size_t nl = (size_t)(colon - s);
        const char *v = colon + 1;
        while (v < e && (*v == ' ' || *v == '\t')) v++;
        size_t vl = (size_t)(e - v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (is(s, nl, "retry-after")) {
            a->retry_after = atoi(v);
        } else if (is(s, nl, "upgrade")) {
            upgrade = vl == 9 && strncasecmp(v, "websocket", 9) == 0;
        } else if (is(s, nl, "connection")) {
            connection = lt_has_token(v, vl, "upgrade");
        } else if (is(s, nl, "sec-websocket-accept")) {
            if (!equals(v, vl, accept)) return fail(a, "wrong Sec-WebSocket-Accept");
            got_accept = 1;
        } else if (is(s, nl, "sec-websocket-protocol")) {
            if (!proto || !equals(v, vl, proto)) return fail(a, "a subprotocol that was not offered");
            got_proto = 1;
        } else if (is(s, nl, "sec-websocket-extensions")) {
            /* only the one we offer: its frames are counted, never inflated */
            if (!ext || vl < 18 || strncasecmp(v, "permessage-deflate", 18) != 0)
                return fail(a, "an extension that was not offered");
            a->deflate = 1;
        }
    }
    if (a->status != 101) return fail(a, "upgrade refused");
    if (!upgrade || !connection) return fail(a, "no Upgrade: websocket / Connection: Upgrade");
    if (!got_accept) return fail(a, "no Sec-WebSocket-Accept");
    if (proto && !got_proto) return fail(a, "the offered subprotocol was not chosen");
    return 1;
}
