/*
 * lc_role: who a connection is in its room. Declared apart from the
 * connection (conn.h includes it) because tokens carry a role too, and the
 * token code (jwt.c, livecart-token) knows no connections.
 */
#ifndef LC_ROLE_H
#define LC_ROLE_H

#include <stddef.h>
#include <string.h>

typedef enum { LC_ROLE_VIEWER = 0, LC_ROLE_STREAMER = 1, LC_ROLE_MODERATOR = 2 } lc_role_t;

static inline const char *lc_role_name(lc_role_t r) {
    return r == LC_ROLE_STREAMER ? "streamer" : r == LC_ROLE_MODERATOR ? "moderator" : "viewer";
}

/* Parses "viewer" / "streamer" / "moderator"; -1 otherwise. */
static inline int lc_role_parse(const char *s, size_t n) {
    static const char *const names[] = {"viewer", "streamer", "moderator"};
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return i;
    return -1;
}

#endif
