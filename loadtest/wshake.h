/*
 * lt_wsh: the client side of the WebSocket opening handshake (RFC 6455 §4)
 * for the lean reader: the upgrade request, and the check of the server's
 * answer (101, Upgrade: websocket, Connection: Upgrade, the
 * Sec-WebSocket-Accept that proves the server read our key, the subprotocol
 * we offered and no extension we did not). Pure functions over bytes.
 */
#ifndef LT_WSHAKE_H
#define LT_WSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define LT_WSH_KEY_LEN 24    /* base64 of 16 bytes */
#define LT_WSH_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* A fresh Sec-WebSocket-Key from the caller's xorshift state (the key need
 * not be secret: it only proves the answer was made for this request). */
void lt_wsh_key(uint32_t *state, char key[LT_WSH_KEY_LEN + 1]);

/* The Sec-WebSocket-Accept a server must answer key with. Returns 0 or -1. */
int lt_wsh_accept(const char *key, char out[LT_WSH_ACCEPT_LEN + 1]);

/* Writes the upgrade request for path (with its query) on host:port into
 * out; proto is the one subprotocol offered, or NULL for none; ext the
 * Sec-WebSocket-Extensions offer (permessage-deflate), or NULL. Returns its
 * length, or -1 when it does not fit. */
int lt_wsh_request(char *out, size_t cap, const char *host, int port, const char *path, const char *proto,
                   const char *ext, const char *key);

typedef struct lt_wsh_answer {
    int status;       /* the HTTP status (101 when it upgraded) */
    int retry_after;  /* a refusal's Retry-After in seconds, 0: none */
    size_t head_len;  /* bytes up to and including the blank line */
    const char *err;  /* what is wrong (a static string), when lt_wsh_check returned -1 */
    int deflate;      /* the server took our permessage-deflate offer */
} lt_wsh_answer_t;

/* Checks the answer head in p[0..n) against the key's expected accept and
 * the offered proto (NULL: none). Returns 1 when it is a valid upgrade
 * (a->head_len: where the frames begin), 0 when more bytes are needed, -1
 * when it is refused or wrong (a->status, a->retry_after, a->err). */
int lt_wsh_check(const char *p, size_t n, const char *accept, const char *proto, const char *ext,
                 lt_wsh_answer_t *a);

#endif
