/*
 * lc_feature_list: every feature the server runs, in one list -- the one place
 * besides main.c that knows them all. Adding a feature is a new file and
 * one line in feature_list.c.
 */
#ifndef LC_FEATURE_LIST_H
#define LC_FEATURE_LIST_H

#include "feature.h"

/* NULL-terminated. */
extern const lc_feature_t *const lc_features[];

#endif
