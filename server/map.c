#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    void *val;
    uint32_t hash;
    size_t n;
    char key[]; /* NUL-terminated copy */
} entry_t;

struct lc_map {
    entry_t **b;
    size_t nb, size;
};

static uint32_t fnv1a(const char *k, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

lc_map_t *lc_map_create(void) {
    lc_map_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->nb = 16;
    m->b = calloc(m->nb, sizeof(*m->b));
    if (!m->b) {
        free(m);
        return NULL;
    }
    return m;
}

void lc_map_destroy(lc_map_t *m) {
    if (!m) return;
    for (size_t i = 0; i < m->nb; i++) {
        entry_t *e = m->b[i];
        while (e) {
            entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->b);
    free(m);
}

static entry_t **find(const lc_map_t *m, const char *key, size_t n, uint32_t h) {
    entry_t **p = &m->b[h & (m->nb - 1)];
    while (*p && !((*p)->hash == h && (*p)->n == n && memcmp((*p)->key, key, n) == 0)) p = &(*p)->next;
    return p;
}

void *lc_map_get(const lc_map_t *m, const char *key, size_t n) {
    entry_t **p = find(m, key, n, fnv1a(key, n));
    return *p ? (*p)->val : NULL;
}

static void grow(lc_map_t *m) {
    size_t nb = m->nb * 2;
    entry_t **b = calloc(nb, sizeof(*b));
    if (!b) return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nb; i++) {
        entry_t *e = m->b[i];
        while (e) {
            entry_t *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

int lc_map_put(lc_map_t *m, const char *key, size_t n, void *val) {
    uint32_t h = fnv1a(key, n);
    entry_t **p = find(m, key, n, h);
    if (*p) {
        (*p)->val = val;
        return 0;
    }
    entry_t *e = malloc(sizeof(*e) + n + 1);
    if (!e) return -1;
    e->next = NULL;
    e->val = val;
    e->hash = h;
    e->n = n;
    memcpy(e->key, key, n);
    e->key[n] = '\0';
    *p = e;
    if (++m->size > m->nb) grow(m);
    return 0;
}

void *lc_map_del(lc_map_t *m, const char *key, size_t n) {
    entry_t **p = find(m, key, n, fnv1a(key, n));
    entry_t *e = *p;
    if (!e) return NULL;
    void *val = e->val;
    *p = e->next;
    free(e);
    m->size--;
    return val;
}

size_t lc_map_size(const lc_map_t *m) { return m->size; }

void lc_map_foreach(const lc_map_t *m, void (*fn)(void *arg, const char *key, size_t n, void *val),
                    void *arg) {
    for (size_t i = 0; i < m->nb; i++)
        for (entry_t *e = m->b[i]; e; e = e->next) fn(arg, e->key, e->n, e->val);
}
