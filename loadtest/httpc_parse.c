/*
 * lt_http's answer parsing (httpc.h): the status line, the three headers
 * the client acts on, and chunked bodies. Pure functions over bytes, so the
 * unit test needs no sockets.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpc.h"
#include "httptok.h"

/* The blank line that ends a head: the offset after it, or 0. */
static size_t head_end(const char *p, size_t n) {
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') return i + 4;
    return 0;
}

/* One header line name[0..nl): value[0..vl) into out. Returns 0 or -1. */
static int header(lt_http_head_t *out, const char *name, size_t nl, const char *val, size_t vl, int *keep) {
    if (nl == 14 && strncasecmp(name, "content-length", 14) == 0) {
        long v = 0;
        if (vl == 0) return -1;
        for (size_t i = 0; i < vl; i++) {
            if (!isdigit((unsigned char)val[i]) || v > 100000000L) return -1;
            v = v * 10 + (val[i] - '0');
        }
        out->content_length = v;
    } else if (nl == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
        out->chunked = lt_has_token(val, vl, "chunked");
    } else if (nl == 10 && strncasecmp(name, "connection", 10) == 0) {
        if (lt_has_token(val, vl, "close")) out->close = 1;
        if (lt_has_token(val, vl, "keep-alive")) *keep = 1;
    }
    return 0;
}

int lt_http_parse_head(const char *p, size_t n, lt_http_head_t *out) {
    size_t end = head_end(p, n);
    if (n >= 5 && strncmp(p, "HTTP/", 5) != 0) return -1;
    if (!end) return n > 65536 ? -1 : 0;
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    out->head_len = end;
    if (end < 14 || strncmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[7]) || p[8] != ' ') return -1;
    out->minor = p[7] - '0';
    for (int i = 9; i < 12; i++)
        if (!isdigit((unsigned char)p[i])) return -1;
    out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    const char *line = memchr(p, '\n', end);
    int keep = 0;
    while (line && (size_t)(line + 1 - p) < end - 2) {
        const char *s = line + 1;
        const char *e = memchr(s, '\n', end - (size_t)(s - p));
        if (!e) return -1;
        size_t len = (size_t)(e - s);
        if (len && s[len - 1] == '\r') len--;
        const char *colon = memchr(s, ':', len);
        if (!colon || colon == s) return -1;
        const char *v = colon + 1;
        size_t vl = len - (size_t)(v - s);
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (header(out, s, (size_t)(colon - s), v, vl, &keep) != 0) return -1;
        line = e;
    }
    if (out->minor == 0 && !keep) out->close = 1;
    return 1;
}

/* Walks the chunks of p[0..n): returns 1 and the body's length when the
 * last chunk and its trailer are in, 0 when more is needed, -1 when
 * malformed. With move set, also moves each chunk's data to the front. */
static int walk_chunks(char *p, size_t n, size_t *out_len, int move) {
    size_t i = 0, w = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (i < n && isxdigit((unsigned char)p[i])) {
            if (size > (1u << 24)) return -1;
            int c = tolower((unsigned char)p[i++]);
            size = size * 16 + (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
            digits++;
        }
        if (i >= n) return 0;
        if (!digits) return -1;
        while (i < n && p[i] != '\n') i++; /* chunk extensions are ignored */
        if (i >= n) return 0;
        i++;
        if (size == 0) { /* trailer fields until a blank line */
            for (;;) {
                const char *e = memchr(p + i, '\n', n - i);
                if (!e) return 0;
                size_t len = (size_t)(e - (p + i));
                i += len + 1;
                if (len == 0 || (len == 1 && p[i - 2] == '\r')) {
                    *out_len = w;
                    return 1;
                }
            }
        }
        if (n - i < size + 2) return 0;
        if (move) memmove(p + w, p + i, size);
        w += size;
        i += size;
        if (p[i] == '\r') i++;
        if (p[i] != '\n') return -1;
        i++;
    }
}

int lt_http_dechunk(char *p, size_t n, size_t *out_len) {
    size_t len;
    int rc = walk_chunks(p, n, &len, 0);
    if (rc <= 0) return rc;
    walk_chunks(p, n, out_len, 1);
    return 1;
}
