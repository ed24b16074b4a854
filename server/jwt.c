#include "jwt.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "lc_proto.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const uint8_t *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = b64url[v & 63];
    }
    return o;
}

static int b64_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Strict base64url without padding: returns the decoded length or -1. */
static int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap) {
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_val(in[i]);
        if (d < 0) return -1;
        v = (v << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (uint8_t)(v >> bits);
        }
    }
    if (bits && (v & ((1u << bits) - 1))) return -1; /* non-canonical trailing bits */
    return (int)o;
}

static int hmac256(const uint8_t *key, size_t keylen, const char *data, size_t n, uint8_t mac[32]) {
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n, mac, &len) || len != 32)
        return -1;
    return 0;
}

static json_t *part_json(const char *p, size_t n) {
    uint8_t buf[LC_JWT_MAX];
    int len = b64_decode(p, n, buf, sizeof(buf));
    if (len < 0) return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int claims_of(json_t *pl, lc_claims_t *out) {
    json_t *sub = json_object_get(pl, "sub"), *role = json_object_get(pl, "role");
    json_t *exp = json_object_get(pl, "exp"), *room = json_object_get(pl, "room");
    json_t *nbf = json_object_get(pl, "nbf");
    /* exp and nbf are NumericDates: RFC 7519 allows fractions; whole seconds are enough here */
    if (!json_is_string(sub) || !json_is_string(role) || !json_is_number(exp)) return -1;
    if (nbf && !json_is_number(nbf)) return -1;
    double expd = json_number_value(exp), nbfd = nbf ? json_number_value(nbf) : 0;
    if (expd < -1e15 || expd > 1e15 || nbfd < -1e15 || nbfd > 1e15) return -1;
    size_t sn = json_string_length(sub);
    const char *sv = json_string_value(sub);
    if (sn < 1 || sn > 64 || memchr(sv, 0, sn) || !lc_utf8_valid(sv, sn)) return -1;
    int r = lc_role_parse(json_string_value(role), json_string_length(role));
    if (r < 0) return -1;
    memset(out, 0, sizeof(*out));
    memcpy(out->sub, sv, sn);
    out->sub_n = (uint8_t)sn;
    out->role = (lc_role_t)r;
    out->exp = (int64_t)expd;
    out->nbf = (int64_t)nbfd;
    if (room && !json_is_null(room)) {
        if (!json_is_string(room) || !lc_ident_valid(json_string_value(room), json_string_length(room)))
            return -1;
        out->room_n = (uint8_t)json_string_length(room);
        memcpy(out->room, json_string_value(room), out->room_n);
    }
    return 0;
}

lc_jwt_result_t lc_jwt_verify(const uint8_t *key, size_t keylen, const char *tok, size_t n,
                              const lc_jwt_rules_t *rules, lc_claims_t *out) {
    if (n == 0 || n > LC_JWT_MAX) return LC_JWT_MALFORMED;
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok))) return LC_JWT_MALFORMED;
    /* the header first: only HS256 is ever accepted */
    json_t *hdr = part_json(tok, (size_t)(d1 - tok));
    if (!hdr) return LC_JWT_MALFORMED;
    json_t *alg = json_object_get(hdr, "alg");
    int hs256 = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0;
    json_decref(hdr);
    if (!hs256) return LC_JWT_BAD_SIGNATURE;
    uint8_t sig[64], mac[32];
    int sl = b64_decode(d2 + 1, n - (size_t)(d2 + 1 - tok), sig, sizeof(sig));
    if (sl != 32) return LC_JWT_BAD_SIGNATURE;
    if (hmac256(key, keylen, tok, (size_t)(d2 - tok), mac) != 0) return LC_JWT_BAD_SIGNATURE;
    if (CRYPTO_memcmp(mac, sig, 32) != 0) return LC_JWT_BAD_SIGNATURE;
    /* signed by us: now the claims */
    json_t *pl = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!pl) return LC_JWT_MALFORMED;
    lc_claims_t c;
    int ok = claims_of(pl, &c) == 0;
    json_decref(pl);
    if (!ok) return LC_JWT_MALFORMED;
    int64_t now = rules->now, skew = rules->skew;
    if (now > c.exp + skew) return LC_JWT_EXPIRED;
    if (c.nbf && now < c.nbf - skew) return LC_JWT_NOT_YET;
    if (rules->max_ttl > 0 && c.exp > now + rules->max_ttl + skew) return LC_JWT_TOO_LONG;
    *out = c;
    return LC_JWT_OK;
}

int lc_jwt_sign_payload(const uint8_t *key, size_t keylen, const char *payload, char *out, size_t cap) {
    static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t pn = strlen(payload);
    size_t need = (sizeof(hdr) * 4 / 3 + 4) + (pn * 4 / 3 + 4) + 44 + 3;
    if (cap < need) return -1;
    size_t o = b64_encode((const uint8_t *)hdr, sizeof(hdr) - 1, out);
    out[o++] = '.';
    o += b64_encode((const uint8_t *)payload, pn, out + o);
    uint8_t mac[32];
    if (hmac256(key, keylen, out, o, mac) != 0) return -1;
    out[o++] = '.';
    o += b64_encode(mac, 32, out + o);
    out[o] = '\0';
    return (int)o;
}

int lc_jwt_sign(const uint8_t *key, size_t keylen, const lc_claims_t *c, char *out, size_t cap) {
    json_t *pl = json_pack("{s:s%,s:s,s:I}", "sub", c->sub, (size_t)c->sub_n, "role", lc_role_name(c->role),
                           "exp", (json_int_t)c->exp);
    if (!pl) return -1;
    if (c->room_n) json_object_set_new(pl, "room", json_stringn(c->room, c->room_n));
    if (c->nbf) json_object_set_new(pl, "nbf", json_integer(c->nbf));
    char *payload = json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(pl);
    if (!payload) return -1;
    int n = lc_jwt_sign_payload(key, keylen, payload, out, cap);
    free(payload);
    return n;
}
