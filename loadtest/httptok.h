/*
 * lt_has_token: does a comma-separated HTTP header value hold a token
 * (case-insensitive, spaces around items ignored)? Shared by the HTTP
 * client (httpc_parse.c) and the lean reader's upgrade check (wshake.c).
 */
#ifndef LT_HTTPTOK_H
#define LT_HTTPTOK_H

#include <stddef.h>
#include <string.h>
#include <strings.h>

static inline int lt_has_token(const char *v, size_t n, const char *tok) {
    size_t tl = strlen(tok);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t e = j;
        while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - i == tl && strncasecmp(v + i, tok, tl) == 0) return 1;
        i = j;
    }
    return 0;
}

#endif
