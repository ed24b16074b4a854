/*
 * The coupon feature's view of a room's coupons (counts, what was last
 * broadcast, when their windows end). See coupon_view.h.
 */
#include <stdlib.h>
#include <string.h>

#include "coupon_view.h"

coupons_t *lc__coupons_of(lc_room_t *r, int create) {
    coupons_t **s = (coupons_t **)lc_room_slot(r, LC_COUPON_FEATURE);
    if (!s) return NULL;
    if (!*s && create && (*s = calloc(1, sizeof(coupons_t)))) {
        lc_list_init(&(*s)->list);
        (*s)->room = r;
        (*s)->skew = lc_wall_ms() - (int64_t)uv_now(lc_room_server(r)->loop); /* until Redis says */
    }
    return *s;
}

cpn_t *lc__coupon_find(lc_room_t *r, lc_str_t id, int create) {
    coupons_t *s = lc__coupons_of(r, create);
    if (!s || id.n == 0 || id.n > 64) return NULL;
    lc_list_foreach(it, &s->list) {
        cpn_t *k = LC_CONTAINER_OF(it, cpn_t, link);
        if (k->n == id.n && memcmp(k->id, id.p, id.n) == 0) return k;
    }
    if (!create) return NULL;
    cpn_t *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    memcpy(k->id, id.p, id.n);
    k->n = (uint8_t)id.n;
    k->left_sent = k->used_sent = -1;
    lc_list_push_front(&s->list, &k->link);
    return k;
}

void lc__coupon_drop(cpn_t *k) {
    lc_list_remove(&k->link);
    free(k);
}

void lc__coupon_dirty(lc_room_t *r, lc_str_t id) {
    cpn_t *k = lc__coupon_find(r, id, 1);
    if (k) k->dirty = 1;
}

void lc__coupon_start(lc_room_t *r, const lc_msg_t *m) {
    cpn_t *k = lc__coupon_find(r, m->coupon, 1);
    if (!k) return;
    k->gone = 0;
    k->known = 1;
    k->left = k->left_sent = lc_msg_has(m, left) ? m->left : 0;
    k->used = k->used_sent = lc_msg_has(m, used) ? m->used : 0;
    k->ends = m->ends;
}

