/*
 * lc_filter: the word filter (--blocklist FILE): one term a line, matched
 * case-insensitively (ASCII letters folded) anywhere in a comment. Loaded at
 * start and on SIGHUP; a reload that fails keeps the old list.
 */
#ifndef LC_FILTER_H
#define LC_FILTER_H

#include <stddef.h>

#include "server.h"

int lc_filter_load(lc_server_t *srv);
void lc_filter_free(lc_server_t *srv);
/* 1 if text contains a blocked term. */
int lc_filter_match(const lc_server_t *srv, const char *text, size_t n);

#endif
