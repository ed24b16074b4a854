/* libFuzzer: token verification. Whatever it accepts has sane claims and
 * survives a sign/verify round trip. */
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const uint8_t KEY[] = "fuzz-key";

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    lc_claims_t c;
    if (lc_jwt_verify(KEY, sizeof(KEY) - 1, (const char *)d, n, 1000000000, 2, &c) != LC_JWT_OK) return 0;
    if (c.sub_n < 1 || c.sub_n > 64 || c.room_n > 64 || c.role > LC_ROLE_MODERATOR) abort();
    char tok[LC_JWT_MAX];
    if (lc_jwt_sign(KEY, sizeof(KEY) - 1, &c, tok, sizeof(tok)) < 0) abort();
    lc_claims_t c2;
    if (lc_jwt_verify(KEY, sizeof(KEY) - 1, tok, strlen(tok), 1000000000, 2, &c2) != LC_JWT_OK) abort();
    if (c2.sub_n != c.sub_n || memcmp(c2.sub, c.sub, c.sub_n) || c2.role != c.role || c2.exp != c.exp) abort();
    return 0;
}
