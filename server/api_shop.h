/*
 * Private to the publish API: the shop's side of checkout and coupons
 * (api_shop.c), called by api.c's routes. See api_reply.h.
 */
#ifndef LC_API_SHOP_H
#define LC_API_SHOP_H

#include "api_reply.h"

/* GET /api/rooms/ROOM/orders/ORDER (r filled, authorized). */
void lc__api_order_get(lc_api_req_t *r, lc_http_req_t *q);
/* POST /api/rooms/ROOM/orders/ORDER/paid (r filled, authorized; the body is ignored). */
void lc__api_order_paid(lc_api_req_t *r, lc_http_req_t *q);
/* GET /api/rooms/ROOM/lotteries/ID (r filled, authorized; the id in r->order). */
void lc__api_lottery_get(lc_api_req_t *r, lc_http_req_t *q);
/* A POST /messages body of type coupon_drop: NULL when sent (answered
 * later), else why it is refused (400). */
const char *lc__api_coupon_drop(lc_api_req_t *r, lc_http_req_t *q, json_t *body);

#endif
