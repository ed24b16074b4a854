#include "feature_list.h"

#include "checkout.h"
#include "coupon.h"
#include "moderation.h"
#include "sale.h"

const lc_feature_t *const lc_features[] = {
    &lc_moderation_feature,
    &lc_checkout_feature, /* before sale: it reads the deadlines off the stock messages */
    &lc_sale_feature,
    &lc_coupon_feature,
    NULL,
};
