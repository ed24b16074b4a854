/*
 * The Redis Cluster's map, as this shard knows it (store_cluster.c):
 * learnt from CLUSTER SHARDS, learnt again when something says it changed.
 * The store's hooks.map_changed runs when it did.
 */
#ifndef LC_STORE_CLUSTER_H
#define LC_STORE_CLUSTER_H

#include "store_node.h"

/* Starts the seeds' connections; the map is asked for once one is up. */
void lc__cluster_start(lc_store_t *s);
/* The watchdog, and a node's first connect: ask for the map when due. */
void lc__cluster_tick(lc_store_t *s);

#endif
