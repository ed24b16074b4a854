/* libFuzzer: token verification. Whatever it accepts has sane claims and
 * survives a sign/verify round trip. */
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const uint8_t KEY[] = "fuzz-key";

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    const lc_jwt_rules_t rules = {1000000000, 2, 86400};
    lc_claims_t c;
    if (lc_jwt_verify(KEY, sizeof(KEY) - 1, (const char *)d, n, &rules, &c) != LC_JWT_OK) return 0;
    /* what it accepted obeys the rules */
    if (c.exp < rules.now - rules.skew || c.exp > rules.now + rules.max_ttl + rules.skew ||
        c.nbf > rules.now + rules.skew)
        abort();
    if (c.sub_n < 1 || c.sub_n > 64 || c.room_n > 64 || c.role > LC_ROLE_MODERATOR) abort();
    char tok[LC_JWT_MAX];
    if (lc_jwt_sign(KEY, sizeof(KEY) - 1, &c, tok, sizeof(tok)) < 0) abort();
    lc_claims_t c2;
    if (lc_jwt_verify(KEY, sizeof(KEY) - 1, tok, strlen(tok), &rules, &c2) != LC_JWT_OK) abort();
    if (c2.sub_n != c.sub_n || memcmp(c2.sub, c.sub, c.sub_n) || c2.role != c.role || c2.exp != c.exp ||
        c2.nbf != c.nbf)
        abort();
    return 0;
}
