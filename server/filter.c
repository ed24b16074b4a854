#include "filter.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct lc_filter {
    char path[256];
    char **terms; /* lower-case */
    size_t n;
};

static void free_terms(char **t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i]);
    free(t);
}

int lc_filter_reload(lc_filter_t *flt) {
    if (!flt->path[0]) return 0;
    FILE *f = fopen(flt->path, "r");
    if (!f) {
        lc_log("blocklist %s: %s (keeping %zu terms)", flt->path, strerror(errno), flt->n);
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
        lc_log("blocklist %s: out of memory (keeping %zu terms)", flt->path, flt->n);
        return -1;
    }
    free_terms(flt->terms, flt->n);
    flt->terms = terms;
    flt->n = n;
    lc_log("blocklist %s: %zu terms", flt->path, n);
    return 0;
}

lc_filter_t *lc_filter_create(const char *path) {
    lc_filter_t *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    if (path && strlen(path) >= sizeof(f->path)) {
        free(f);
        return NULL;
    }
    snprintf(f->path, sizeof(f->path), "%s", path ? path : "");
    if (lc_filter_reload(f) != 0) {
        free(f);
        return NULL;
    }
    return f;
}

void lc_filter_destroy(lc_filter_t *f) {
    if (!f) return;
    free_terms(f->terms, f->n);
    free(f);
}

int lc_filter_match(const lc_filter_t *flt, const char *text, size_t n) {
    if (!flt || !flt->n) return 0;
    char low[512];
    if (n >= sizeof(low)) n = sizeof(low) - 1; /* comments are at most 500 bytes */
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)text[i]);
    low[n] = '\0';
    for (size_t i = 0; i < flt->n; i++)
        if (strstr(low, flt->terms[i])) return 1;
    return 0;
}
