/*
 * The sale feature's view of a room's skus (stock, teams, what was last
 * broadcast). See sale_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include "sale_view.h"

/* ---- the room's view of its skus ---- */

sales_t *lc__sales_of(lc_room_t *r, int create) {
    sales_t **s = (sales_t **)lc_room_slot(r, LC_SALE_FEATURE);
    if (!s) return NULL;
    if (!*s && create && (*s = calloc(1, sizeof(sales_t)))) lc_list_init(&(*s)->skus);
    return *s;
}

sku_t *lc__sku_find(lc_room_t *r, lc_str_t id, int create) {
    sales_t *s = lc__sales_of(r, create);
    if (!s || id.n == 0 || id.n > 64) return NULL;
    lc_list_foreach(it, &s->skus) {
        sku_t *k = LC_CONTAINER_OF(it, sku_t, link);
        if (k->n == id.n && memcmp(k->id, id.p, id.n) == 0) return k;
    }
    if (!create) return NULL;
    sku_t *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    memcpy(k->id, id.p, id.n);
    k->n = (uint8_t)id.n;
    k->open = 1;
    k->left_sent = k->teams_sent = k->waiting_sent = -1;
    lc_list_push_front(&s->skus, &k->link);
    return k;
}

void lc__sku_dirty(lc_room_t *r, lc_str_t id) {
    sku_t *k = lc__sku_find(r, id, 1);
    if (k) k->dirty = 1;
}

void lc__sku_remove(sku_t *k) {
    lc_list_remove(&k->link);
    free(k);
}

void lc__sales_free(lc_room_t *r, void *slot) {
    sales_t *s = slot;
    lc_list_foreach_safe(it, &s->skus) lc__sku_remove(LC_CONTAINER_OF(it, sku_t, link));
    free(s);
}

void lc__sku_heard_left(sku_t *k, int64_t left, uint64_t now) {
    k->out = left <= 0;
    if (k->out) k->out_at = now;
}

/* (Re)starts the view of a sku from a sale or group_sale message. */
void lc__sku_start(sku_t *k, const lc_msg_t *m, uint64_t now) {
    k->group = m->type == LC_MSG_GROUP_SALE;
    k->open = 1;
    k->probe = 0; /* a probe of the sku's former run answers nothing about this one */
    lc__sku_heard_left(k, m->stock, now);
    k->left = k->left_sent = m->stock;
    k->teams = k->teams_sent = lc_msg_has(m, teams) ? m->teams : 0;
    k->waiting = k->waiting_sent = 0;
    k->sold_out_sent = m->stock == 0;
}
