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

/* 1 if a listen address (numeric, or "localhost") is reachable from this
 * host only: 127.0.0.0/8 or ::1. */
int lc_http_addr_is_loopback(const char *addr);

/* A Transfer-Encoding: chunked request body decoder (RFC 9112 7.1): lws
 * 4.1 hands the chunk framing to LWS_CALLBACK_HTTP_BODY as it is (and waits
 * for up to 100 MiB of it). Zero-initialise before the first call. */
typedef struct lc_http_dechunk {
    unsigned char st;        /* state, 0 at start */
    unsigned char ndig;      /* hex digits of the size so far */
    unsigned short line;     /* bytes of the current size extension / trailer line */
    unsigned long long left; /* data bytes left in this chunk */
} lc_http_dechunk_t;

/* Feeds n raw bytes from p. Decoded data is written to out (up to cap
 * bytes in all; *outn counts every decoded byte, also those past cap).
 * Returns 1 when the last chunk and the trailers have ended (*used: the
 * bytes of p that belonged to the body, the rest is not ours), 0 when more
 * is needed (all of p used), -1 on malformed framing. */
int lc_http_dechunk(lc_http_dechunk_t *d, const unsigned char *p, size_t n, size_t *used, char *out,
                    size_t cap, size_t *outn);

/* Parses a Content-Length value: 1-18 decimal digits, nothing else (no
 * sign, no space, no list: RFC 9110 8.6; anything else is a framing error,
 * 400). Returns 0 with the length in *out, or -1. */
int lc_http_content_length(const char *s, unsigned long long *out);

/* The reason phrase of an HTTP status ("Not Found"), "Error" for a status
 * it does not know: for status lines written by hand (an upgrade refused
 * before lws knows the request's HTTP version). */
const char *lc_http_reason(unsigned status);

/* 1 if a Sec-WebSocket-Key value (n bytes) is the base64 of 16 bytes
 * (RFC 6455 4.2.1): 22 base64 characters and "==". */
int lc_http_ws_key_valid(const char *key, size_t n);

#endif
