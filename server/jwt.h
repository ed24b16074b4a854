/*
 * lc_jwt: HS256 JSON Web Tokens, verified with OpenSSL's HMAC and parsed
 * with jansson. Only HS256 is accepted (never "none", never an algorithm
 * the token chooses), the signature is compared in constant time, `exp` is
 * required and checked with a small clock skew.
 */
#ifndef LC_JWT_H
#define LC_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "role.h"

typedef struct lc_claims {
    char sub[65];
    uint8_t sub_n;
    char room[65];
    uint8_t room_n; /* 0: the token names no room */
    lc_role_t role;
    int64_t exp; /* seconds since the epoch */
    int64_t nbf; /* not before (seconds since the epoch); 0: the token has none */
} lc_claims_t;

typedef enum {
    LC_JWT_OK = 0,
    LC_JWT_MALFORMED,     /* not three base64url parts of JSON, or claims missing/wrong */
    LC_JWT_BAD_SIGNATURE, /* not HS256, or not signed with our key */
    LC_JWT_EXPIRED,       /* exp + skew is past */
    LC_JWT_NOT_YET,       /* nbf - skew is still ahead */
    LC_JWT_TOO_LONG,      /* exp is further ahead than the longest lifetime accepted */
} lc_jwt_result_t;

/* Longest token accepted (a hello frame is at most 4 KiB anyway). */
#define LC_JWT_MAX 4096

/* What a valid token must satisfy besides its signature, at time `now`
 * (seconds): exp + skew not past, nbf - skew (if any) not ahead, and exp at
 * most max_ttl + skew ahead (0: no cap) -- a token "valid for a million
 * years" is a stolen token that never dies. */
typedef struct lc_jwt_rules {
    int64_t now;
    int skew;
    int64_t max_ttl;
} lc_jwt_rules_t;

/* Verifies tok with key under the rules; fills out on LC_JWT_OK. */
lc_jwt_result_t lc_jwt_verify(const uint8_t *key, size_t keylen, const char *tok, size_t n,
                              const lc_jwt_rules_t *rules, lc_claims_t *out);

/* Signs claims (room_n 0: no room claim) into out, NUL-terminated.
 * Returns the length, or -1 if out is too small. */
int lc_jwt_sign(const uint8_t *key, size_t keylen, const lc_claims_t *c, char *out, size_t cap);

/* Signs an arbitrary JSON payload (tests of claim checking). */
int lc_jwt_sign_payload(const uint8_t *key, size_t keylen, const char *payload, char *out, size_t cap);

#endif
