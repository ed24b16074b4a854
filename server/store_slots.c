/*
 * Redis Cluster routing. See store_slots.h.
 */
#include "store_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint16_t lc_crc16(const void *data, size_t n) {
    const uint8_t *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

uint16_t lc_key_slot(const char *key, size_t n) {
    const char *open = memchr(key, '{', n);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', n - from);
        if (close && close > key + from) return lc_crc16(key + from, (size_t)(close - key) - from) & (LC_SLOTS - 1);
    }
    return lc_crc16(key, n) & (LC_SLOTS - 1);
}

uint16_t lc_slot_of_room(const char *room, size_t n) { return lc_crc16(room, n) & (LC_SLOTS - 1); }

void lc_slots_init(lc_slot_map_t *m) {
    memset(m, 0, sizeof(*m));
    for (unsigned i = 0; i < LC_SLOTS; i++) m->owner[i] = LC_SLOT_NONE;
}

int lc_slots_node(lc_slot_map_t *m, const char *host, int port) {
    for (unsigned i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0) return (int)i;
    if (m->nnodes == LC_SLOT_NODES_MAX || strlen(host) >= sizeof(m->nodes[0].host) || port <= 0 || port > 65535)
        return -1;
    lc_slot_node_t *nd = &m->nodes[m->nnodes];
    snprintf(nd->host, sizeof(nd->host), "%s", host);
    nd->port = port;
    return (int)m->nnodes++;
}

int lc_slots_assign(lc_slot_map_t *m, unsigned from, unsigned to, const char *host, int port) {
    if (from > to || to >= LC_SLOTS) return -1;
    int i = lc_slots_node(m, host, port);
    if (i < 0) return -1;
    for (unsigned s = from; s <= to; s++) m->owner[s] = (uint16_t)i;
    return 0;
}

unsigned lc_slots_unserved(const lc_slot_map_t *m) {
    unsigned n = 0;
    for (unsigned i = 0; i < LC_SLOTS; i++) n += m->owner[i] == LC_SLOT_NONE;
    return n;
}

/* Parses a decimal in [lo, hi] at *p (advancing it); -1 if there is none. */
static long number(const char **p, const char *end, long lo, long hi) {
    long v = 0;
    const char *s = *p;
    while (*p < end && **p >= '0' && **p <= '9' && v <= hi) v = v * 10 + (*(*p)++ - '0');
    return *p == s || v < lo || v > hi ? -1 : v;
}

int lc_redirect_parse(const char *err, size_t n, lc_redirect_t *out) {
    const char *p = err, *end = err + n;
    if (p < end && *p == '-') p++;
    memset(out, 0, sizeof(*out));
    if ((size_t)(end - p) > 6 && memcmp(p, "MOVED ", 6) == 0) {
        p += 6;
    } else if ((size_t)(end - p) > 4 && memcmp(p, "ASK ", 4) == 0) {
        out->ask = 1;
        p += 4;
    } else {
        return -1;
    }
    long slot = number(&p, end, 0, LC_SLOTS - 1);
    if (slot < 0 || p == end || *p++ != ' ') return -1;
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':') colon = q; /* the last one: an IPv6 address has several */
    if (!colon || (size_t)(colon - p) >= sizeof(out->host)) return -1;
    memcpy(out->host, p, (size_t)(colon - p));
    out->host[colon - p] = '\0';
    p = colon + 1;
    long port = number(&p, end, 1, 65535);
    if (port < 0 || (p != end && *p != '\r' && *p != '\n' && *p != ' ')) return -1;
    out->slot = (unsigned)slot;
    out->port = (int)port;
    return 0;
}
