#include "feature_list.h"

#include "board.h"
#include "checkout.h"
#include "coupon.h"
#include "funnel.h"
#include "lottery.h"
#include "moderation.h"
#include "sale.h"

const lc_feature_t *const lc_features[] = {
    &lc_moderation_feature,
    &lc_board_feature,    /* first: it watches stock, expiries and team results that others take */
    &lc_checkout_feature, /* before sale: it reads the deadlines off the stock messages */
    &lc_sale_feature,
    &lc_coupon_feature,
    &lc_lottery_feature,
    &lc_funnel_feature,
    NULL,
};
