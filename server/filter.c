#include "filter.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void free_terms(char **t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i]);
    free(t);
}

int lc_filter_load(lc_server_t *srv) {
    if (!srv->cfg.blocklist[0]) return 0;
    FILE *f = fopen(srv->cfg.blocklist, "r");
    if (!f) {
        lc_log("blocklist %s: %s (keeping %zu terms)", srv->cfg.blocklist, strerror(errno), srv->nblock);
        return -1;
    }
    char **terms = NULL, line[512];
    size_t n = 0, cap = 0;
    int ok = 1;
    while (ok && fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        while (len && isspace((unsigned char)line[len - 1])) line[--len] = '\0';
        char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (!*s || *s == '#') continue;
        for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **t = realloc(terms, cap * sizeof(*t));
            if (!t) ok = 0;
            else terms = t;
        }
        if (ok && !(terms[n++] = strdup(s))) ok = 0;
    }
    fclose(f);
    if (!ok) {
        free_terms(terms, n);
        lc_log("blocklist %s: out of memory (keeping %zu terms)", srv->cfg.blocklist, srv->nblock);
        return -1;
    }
    free_terms(srv->block, srv->nblock);
    srv->block = terms;
    srv->nblock = n;
    lc_log("blocklist %s: %zu terms", srv->cfg.blocklist, n);
    return 0;
}

void lc_filter_free(lc_server_t *srv) {
    free_terms(srv->block, srv->nblock);
    srv->block = NULL;
    srv->nblock = 0;
}

int lc_filter_match(const lc_server_t *srv, const char *text, size_t n) {
    if (!srv->nblock) return 0;
    char low[512];
    if (n >= sizeof(low)) n = sizeof(low) - 1; /* comments are at most 500 bytes */
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)text[i]);
    low[n] = '\0';
    for (size_t i = 0; i < srv->nblock; i++)
        if (strstr(low, srv->block[i])) return 1;
    return 0;
}
