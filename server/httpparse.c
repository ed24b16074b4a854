#include "httpparse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static int is_trusted(const char *ip, size_t n, char trusted[][48], int ntrusted) {
    for (int i = 0; i < ntrusted; i++)
        if (strlen(trusted[i]) == n && memcmp(trusted[i], ip, n) == 0) return 1;
    return 0;
}

static int addr_char(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == '.' ||
           ch == ':';
}

int lc_http_client_ip(const char *peer, const char *xff, char trusted[][48], int ntrusted, char *out,
                      size_t cap) {
    if (cap == 0) return 0;
    snprintf(out, cap, "%s", peer ? peer : "");
    if (!peer || !xff || !*xff || !is_trusted(peer, strlen(peer), trusted, ntrusted)) return 0;
    /* walk the list from the right, past our own proxies */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',') start--;
        size_t a = start, b = end;
        while (a < b && (xff[a] == ' ' || xff[a] == '\t')) a++;
        while (b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t')) b--;
        if (b > a && !is_trusted(xff + a, b - a, trusted, ntrusted)) {
            if (b - a >= cap) return 0;
            for (size_t i = a; i < b; i++)
                if (!addr_char(xff[i])) return 0; /* never key or log on junk: keep the peer */
            memcpy(out, xff + a, b - a);
            out[b - a] = '\0';
            return 0;
        }
        end = start ? start - 1 : 0;
    }
    return 0;
}

int lc_http_subprotocol_ok(const char *header) {
    const char *p = header;
    int any = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - s);
        if (!n) continue;
        any = 1;
        if ((n == 13 && !memcmp(s, "livecart.json", 13)) || (n == 16 && !memcmp(s, "livecart.msgpack", 16)))
            return 1;
    }
    return !any;
}

int lc_http_addr_is_loopback(const char *addr) {
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcmp(addr, "localhost") == 0;
}

/* ---- chunked request bodies ---- */

enum { DC_SIZE, DC_EXT, DC_SIZE_LF, DC_DATA, DC_DATA_CR, DC_DATA_LF, DC_TRL, DC_TRL_LINE, DC_TRL_LF, DC_END_LF, DC_DONE };
#define DC_LINE_MAX 1024 /* a size line with extensions, or one trailer line */

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The size line's digits, before its CR or extension. */
static int dc_size(lc_http_dechunk_t *d, unsigned char c) {
    int v = hexval(c);
    if (v >= 0) {
        if (++d->ndig > 15) return -1; /* no size that large */
        d->left = d->left * 16 + (unsigned)v;
        return 0;
    }
    if (!d->ndig) return -1;
    if (c == '\r')
        d->st = DC_SIZE_LF;
    else if (c == ';' || c == ' ' || c == '\t')
        d->st = DC_EXT; /* chunk-ext: ignored */
    else
        return -1;
    return 0;
}

/* One byte of the trailers: 1 once the empty line that ends them is in. */
static int dc_trailer(lc_http_dechunk_t *d, unsigned char c) {
    switch (d->st) {
    case DC_TRL: /* start of a trailer line; an empty one ends the body */
        if (c == '\r') {
            d->st = DC_END_LF;
        } else {
            d->st = DC_TRL_LINE;
            d->line = 1;
        }
        return 0;
    case DC_TRL_LINE: /* trailers are read and dropped */
        if (++d->line > DC_LINE_MAX || c == '\n') return -1;
        if (c == '\r') d->st = DC_TRL_LF;
        return 0;
    case DC_TRL_LF:
        if (c != '\n') return -1;
        d->st = DC_TRL;
        d->line = 0;
        return 0;
    case DC_END_LF:
        if (c != '\n') return -1;
        d->st = DC_DONE;
        return 1;
    default:
        return -1;
    }
}

/* One byte of framing (any state but DC_DATA): -1 malformed, 1 the body
 * ended, 0 go on. */
static int dc_byte(lc_http_dechunk_t *d, unsigned char c) {
    switch (d->st) {
    case DC_SIZE:
        return dc_size(d, c);
    case DC_EXT:
        if (++d->line > DC_LINE_MAX || c == '\n' || (c < ' ' && c != '\t' && c != '\r') || c == 127) return -1;
        if (c == '\r') d->st = DC_SIZE_LF;
        return 0;
    case DC_SIZE_LF:
        if (c != '\n') return -1;
        d->ndig = 0;
        d->line = 0;
        d->st = d->left ? DC_DATA : DC_TRL;
        return 0;
    case DC_DATA_CR:
        if (c != '\r') return -1;
        d->st = DC_DATA_LF;
        return 0;
    case DC_DATA_LF:
        if (c != '\n') return -1;
        d->st = DC_SIZE;
        return 0;
    default:
        return dc_trailer(d, c);
    }
}

int lc_http_dechunk(lc_http_dechunk_t *d, const unsigned char *p, size_t n, size_t *used, char *out,
                    size_t cap, size_t *outn) {
    size_t i = 0;
    if (d->st == DC_DONE) { /* nothing more is the body's */
        *used = 0;
        return 1;
    }
    while (i < n) {
        if (d->st == DC_DATA) {
            size_t k = n - i;
            if (k > d->left) k = (size_t)d->left;
            for (size_t j = 0; j < k; j++, (*outn)++)
                if (*outn < cap) out[*outn] = (char)p[i + j];
            i += k;
            d->left -= k;
            if (!d->left) d->st = DC_DATA_CR;
            continue;
        }
        int rc = dc_byte(d, p[i++]);
        if (rc < 0) return -1;
        if (rc > 0) {
            *used = i;
            return 1;
        }
    }
    *used = n;
    return 0;
}

int lc_http_ws_key_valid(const char *k, size_t n) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n != 24 || k[22] != '=' || k[23] != '=') return 0;
    /* 16 bytes end in 4 bits of the last character: only A, Q, g, w are canonical, but
     * clients are not checked that strictly anywhere; any base64 character is taken */
    for (size_t i = 0; i < 22; i++)
        if (!k[i] || !memchr(b64, k[i], 64)) return 0;
    return 1;
}

int lc_http_content_length(const char *s, unsigned long long *out) {
    unsigned long long v = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i == 18) return -1; /* 18 digits: far beyond any limit, no overflow */
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (i == 0) return -1;
    *out = v;
    return 0;
}

const char *lc_http_reason(unsigned status) {
    static const struct {
        unsigned code;
        const char *text;
    } texts[] = {{200, "OK"},
                 {202, "Accepted"},
                 {304, "Not Modified"},
                 {400, "Bad Request"},
                 {401, "Unauthorized"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {411, "Length Required"},
                 {413, "Payload Too Large"},
                 {422, "Unprocessable Content"},
                 {426, "Upgrade Required"},
                 {429, "Too Many Requests"},
                 {500, "Internal Server Error"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"}};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].code == status) return texts[i].text;
    return "Error";
}
