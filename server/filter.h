/*
 * lc_filter: the word filter (--blocklist FILE): one term a line, matched
 * case-insensitively (ASCII letters folded) anywhere in a comment. Loaded at
 * start and on SIGHUP; a reload that fails keeps the old list.
 */
#ifndef LC_FILTER_H
#define LC_FILTER_H

#include <stddef.h>

typedef struct lc_filter lc_filter_t;

/* A filter reading path (NULL or "": no filter, nothing ever matches),
 * loaded once. NULL when the file cannot be read at start (logged). */
lc_filter_t *lc_filter_create(const char *path);
void lc_filter_destroy(lc_filter_t *f);
/* Reads the file again (SIGHUP). Returns 0, or -1 keeping the old terms. */
int lc_filter_reload(lc_filter_t *f);
/* 1 if text contains a blocked term. */
int lc_filter_match(const lc_filter_t *f, const char *text, size_t n);

#endif
