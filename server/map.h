/*
 * lc_map: a small string-keyed hash map (separate chaining, FNV-1a,
 * doubling). Keys are copied; values are borrowed pointers.
 */
#ifndef LC_MAP_H
#define LC_MAP_H

#include <stddef.h>

typedef struct lc_map lc_map_t;

lc_map_t *lc_map_create(void);
/* Frees the map and its key copies, not the values. */
void lc_map_destroy(lc_map_t *m);

void *lc_map_get(const lc_map_t *m, const char *key, size_t n);
/* Inserts or replaces. Returns 0, or -1 out of memory (map unchanged). */
int lc_map_put(lc_map_t *m, const char *key, size_t n, void *val);
/* Removes key; returns its value or NULL. */
void *lc_map_del(lc_map_t *m, const char *key, size_t n);
size_t lc_map_size(const lc_map_t *m);

/* Calls fn for every entry. fn must not change the map. */
void lc_map_foreach(const lc_map_t *m, void (*fn)(void *arg, const char *key, size_t n, void *val),
                    void *arg);

#endif
