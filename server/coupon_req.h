/*
 * Private to the coupon feature: its requests (coupon_req.c). See coupon.h.
 */
#ifndef LC_COUPON_REQ_H
#define LC_COUPON_REQ_H

#include "conn.h"

/* A coupon message (coupon_drop, coupon_claim, coupons) from a joined connection. */
void lc__coupon_on_message(lc_conn_t *c, const lc_msg_t *m);

#endif
