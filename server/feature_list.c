#include "feature_list.h"

#include "moderation.h"
#include "sale.h"

const lc_feature_t *const lc_features[] = {
    &lc_moderation_feature,
    &lc_sale_feature,
    NULL,
};
