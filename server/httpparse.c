#include "httpparse.h"

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
