/*
 * Redis Cluster routing, pure (no sockets, no hiredis; unit-tested): the
 * hash slot of a key (CRC16 of its {hash tag}, as Redis computes it), the
 * slot map -- which node serves each of the 16384 slots -- and the MOVED /
 * ASK redirections a node answers with.
 *
 * Every key of a room carries the room in its hash tag (lc:{ROOM}:...), so
 * a room's keys, scripts and sharded channel live on one slot: routing a
 * call is routing its room.
 */
#ifndef LC_STORE_SLOTS_H
#define LC_STORE_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define LC_SLOTS 16384
#define LC_SLOT_NODES_MAX 64 /* primaries a map may name: a 2-core box runs a few, production dozens */
#define LC_SLOT_NONE 0xffff

/* CRC16-CCITT (XMODEM), the one Redis Cluster uses. */
uint16_t lc_crc16(const void *p, size_t n);
/* The slot of a key: of the part between the first '{' and the next '}'
 * when that part is not empty, else of the whole key. */
uint16_t lc_key_slot(const char *key, size_t n);
/* The slot of a room's keys (its name is the hash tag). */
uint16_t lc_slot_of_room(const char *room, size_t n);

typedef struct lc_slot_node {
    char host[64]; /* numeric */
    int port;
} lc_slot_node_t;

/* The cluster as one shard knows it. Nodes are added, never removed while
 * the map lives (indices stay valid for the connections that use them). */
typedef struct lc_slot_map {
    uint16_t owner[LC_SLOTS]; /* node index, or LC_SLOT_NONE */
    lc_slot_node_t nodes[LC_SLOT_NODES_MAX];
    unsigned nnodes;
} lc_slot_map_t;

void lc_slots_init(lc_slot_map_t *m);
/* The index of host:port, added if new; -1 when the map is full. */
int lc_slots_node(lc_slot_map_t *m, const char *host, int port);
/* Slots [from, to] are served by host:port. 0, or -1 (bad range, full). */
int lc_slots_assign(lc_slot_map_t *m, unsigned from, unsigned to, const char *host, int port);
/* Slots not served by any node. */
unsigned lc_slots_unserved(const lc_slot_map_t *m);

/* A redirection parsed from an error reply. */
typedef struct lc_redirect {
    int ask;       /* 1: ASK (this once, after ASKING), 0: MOVED (the slot's new home) */
    unsigned slot;
    char host[64];
    int port;
} lc_redirect_t;

/* Parses "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" (an
 * error reply's text, with or without the leading '-'). 0, or -1 if it is
 * neither. An empty host ("MOVED 3999 :6381", a node that does not know its
 * own address) is kept empty: the caller uses the address it talked to. */
int lc_redirect_parse(const char *err, size_t n, lc_redirect_t *out);

#endif
