/*
 * Pure parsing for the HTTP side (no sockets, no libwebsockets), so that
 * it can be unit-tested and fuzzed (tests/fuzz/fuzz_http.c).
 */
#ifndef LC_HTTPPARSE_H
#define LC_HTTPPARSE_H

#include <stddef.h>

/* The client's address: the socket peer, or -- when the peer is one of the
 * trusted proxies -- the rightmost X-Forwarded-For entry that is not a
 * trusted proxy (entries left of it are the client's word, not ours). An
 * entry with characters no address has is ignored (the peer is kept).
 * Writes at most cap bytes (NUL included) to out; returns 0. */
int lc_http_client_ip(const char *peer, const char *xff, char trusted[][48], int ntrusted, char *out,
                      size_t cap);

/* 1 if a Sec-WebSocket-Protocol header value ("" when absent) names
 * livecart.json or livecart.msgpack, or nothing at all. */
int lc_http_subprotocol_ok(const char *header);

#endif
