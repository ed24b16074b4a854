/*
 * lt_resv (resv.h): an array of reservations and an open-addressing index
 * over their order ids (FNV-1a, linear probing, grown at half full).
 */
#include "resv.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash(int room, const char *p, size_t n) {
    uint32_t h = 2166136261u ^ (uint32_t)room * 16777619u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static int same(const lt_resv_t *r, int room, const char *order, size_t len) {
    return r->room == room && strlen(r->order) == len && memcmp(r->order, order, len) == 0;
}

int lt_resv_find(const lt_resv_set_t *s, int room, const char *order, size_t len) {
    if (!s->nslot) return -1;
    for (size_t i = hash(room, order, len) & (s->nslot - 1);; i = (i + 1) & (s->nslot - 1)) {
        int32_t k = s->slot[i];
        if (!k) return -1;
        if (same(&s->v[k - 1], room, order, len)) return k - 1;
    }
}

/* Doubles the index and puts every entry back. Returns 0 or -1. */
static int rehash(lt_resv_set_t *s) {
    size_t nslot = s->nslot ? s->nslot * 2 : 1024;
    int32_t *slot = calloc(nslot, sizeof(*slot));
    if (!slot) return -1;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = hash(s->v[k].room, s->v[k].order, strlen(s->v[k].order)) & (nslot - 1);
        while (slot[i]) i = (i + 1) & (nslot - 1);
        slot[i] = (int32_t)k + 1;
    }
    free(s->slot);
    s->slot = slot;
    s->nslot = nslot;
    return 0;
}

int lt_resv_add(lt_resv_set_t *s, int room, const char *order, size_t len, int *fresh) {
    *fresh = 0;
    if (len == 0 || len >= sizeof(s->v[0].order)) return -1;
    int k = lt_resv_find(s, room, order, len);
    if (k >= 0) return k;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        lt_resv_t *v = realloc(s->v, cap * sizeof(*v));
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    if ((s->n + 1) * 2 > s->nslot && rehash(s) != 0) return -1;
    lt_resv_t *r = &s->v[s->n];
    memset(r, 0, sizeof(*r));
    memcpy(r->order, order, len);
    r->room = room;
    size_t i = hash(room, order, len) & (s->nslot - 1);
    while (s->slot[i]) i = (i + 1) & (s->nslot - 1);
    s->slot[i] = (int32_t)s->n + 1;
    *fresh = 1;
    return (int)s->n++;
}

void lt_resv_free(lt_resv_set_t *s) {
    free(s->v);
    free(s->slot);
    memset(s, 0, sizeof(*s));
}
