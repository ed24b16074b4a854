/* JWT: what we sign verifies; every forgery, tampering, wrong algorithm,
 * malformed part and expiry is refused with the right reason. */
#include <string.h>

#include "jwt.h"
#include "lc_test.h"

static const uint8_t KEY[] = "test-key-0123456789";
#define KL (sizeof(KEY) - 1)

static lc_claims_t claims(const char *sub, lc_role_t role, const char *room, int64_t exp) {
    lc_claims_t c;
    memset(&c, 0, sizeof(c));
    c.sub_n = (uint8_t)strlen(sub);
    memcpy(c.sub, sub, c.sub_n);
    c.role = role;
    if (room) {
        c.room_n = (uint8_t)strlen(room);
        memcpy(c.room, room, c.room_n);
    }
    c.exp = exp;
    return c;
}

/* skew 2 s, no lifetime cap (tests of the cap pass their own rules) */
static lc_jwt_result_t verify(const char *tok, int64_t now, lc_claims_t *out) {
    const lc_jwt_rules_t rules = {now, 2, 0};
    return lc_jwt_verify(KEY, KL, tok, strlen(tok), &rules, out);
}

static void test_signed_token_verifies_with_its_claims(void) {
    char tok[1024];
    lc_claims_t c = claims("ann", LC_ROLE_STREAMER, "room-1", 1000), out;
    CHECK(lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok)) > 0);
    CHECK_EQ_INT(verify(tok, 999, &out), LC_JWT_OK);
    CHECK(out.sub_n == 3 && memcmp(out.sub, "ann", 3) == 0);
    CHECK(out.role == LC_ROLE_STREAMER && out.exp == 1000);
    CHECK(out.room_n == 6 && memcmp(out.room, "room-1", 6) == 0);
    c = claims("bob", LC_ROLE_VIEWER, NULL, 50);
    CHECK(lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok)) > 0);
    CHECK_EQ_INT(verify(tok, 1, &out), LC_JWT_OK);
    CHECK(out.room_n == 0 && out.role == LC_ROLE_VIEWER);
}

static void test_expiry_allows_only_the_skew(void) {
    char tok[1024];
    lc_claims_t c = claims("ann", LC_ROLE_VIEWER, NULL, 1000), out;
    lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok));
    CHECK_EQ_INT(verify(tok, 1002, &out), LC_JWT_OK);
    CHECK_EQ_INT(verify(tok, 1003, &out), LC_JWT_EXPIRED);
}

static void test_not_before_allows_only_the_skew(void) {
    char tok[1024];
    lc_claims_t c = claims("ann", LC_ROLE_VIEWER, NULL, 5000), out;
    c.nbf = 1000;
    CHECK(lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok)) > 0);
    CHECK_EQ_INT(verify(tok, 997, &out), LC_JWT_NOT_YET);
    CHECK_EQ_INT(verify(tok, 998, &out), LC_JWT_OK);
    CHECK(out.nbf == 1000);
    CHECK_EQ_INT(verify(tok, 4000, &out), LC_JWT_OK);
}

static void test_a_token_living_longer_than_the_cap_is_refused(void) {
    char tok[1024];
    lc_claims_t out;
    const lc_jwt_rules_t day = {1000, 2, 86400};
    lc_claims_t c = claims("ann", LC_ROLE_VIEWER, NULL, 1000 + 86400 + 2);
    CHECK(lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok)) > 0);
    CHECK_EQ_INT(lc_jwt_verify(KEY, KL, tok, strlen(tok), &day, &out), LC_JWT_OK);
    c = claims("ann", LC_ROLE_VIEWER, NULL, 1000 + 86400 + 3);
    CHECK(lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok)) > 0);
    CHECK_EQ_INT(lc_jwt_verify(KEY, KL, tok, strlen(tok), &day, &out), LC_JWT_TOO_LONG);
    /* a million years ahead */
    CHECK(lc_jwt_sign_payload(KEY, KL, "{\"sub\":\"ann\",\"role\":\"viewer\",\"exp\":31557600000000}", tok,
                              sizeof(tok)) > 0);
    CHECK_EQ_INT(lc_jwt_verify(KEY, KL, tok, strlen(tok), &day, &out), LC_JWT_TOO_LONG);
    CHECK_EQ_INT(verify(tok, 1000, &out), LC_JWT_OK); /* no cap: accepted */
}

static void test_other_key_or_tampering_is_a_bad_signature(void) {
    char tok[1024];
    lc_claims_t c = claims("ann", LC_ROLE_VIEWER, NULL, 1000), out;
    lc_jwt_sign(KEY, KL, &c, tok, sizeof(tok));
    const lc_jwt_rules_t rules = {1, 2, 0};
    CHECK_EQ_INT(lc_jwt_verify((const uint8_t *)"other", 5, tok, strlen(tok), &rules, &out), LC_JWT_BAD_SIGNATURE);
    /* flip one character of the payload, then of the signature */
    char t2[1024];
    strcpy(t2, tok);
    char *dot = strchr(t2, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    CHECK(verify(t2, 1, &out) != LC_JWT_OK);
    strcpy(t2, tok);
    t2[strlen(t2) - 2] = t2[strlen(t2) - 2] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(verify(t2, 1, &out), LC_JWT_BAD_SIGNATURE);
}

static void test_alg_none_and_other_algorithms_are_refused(void) {
    lc_claims_t out;
    /* {"alg":"none"}.{"sub":"ann","role":"streamer","exp":9999999999}. */
    CHECK_EQ_INT(verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbm4iLCJyb2xlIjoic3RyZWFtZXIiLCJleHAiOjk5OTk5OTk5OTl9.", 1, &out),
                 LC_JWT_BAD_SIGNATURE);
    CHECK_EQ_INT(verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbm4iLCJyb2xlIjoic3RyZWFtZXIiLCJleHAiOjk5OTk5OTk5OTl9.AAAA", 1, &out),
                 LC_JWT_BAD_SIGNATURE);
    /* {"alg":"HS512"} */
    CHECK_EQ_INT(verify("eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhbm4iLCJyb2xlIjoic3RyZWFtZXIiLCJleHAiOjk5OTk5OTk5OTl9."
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1, &out),
                 LC_JWT_BAD_SIGNATURE);
}

static void test_malformed_tokens_are_refused(void) {
    lc_claims_t out;
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "!!!.b.c", "e30.e30.", "....", NULL};
    for (int i = 0; bad[i]; i++) CHECK(verify(bad[i], 1, &out) != LC_JWT_OK);
    /* signed with our key, but the claims are wrong */
    const char *payloads[] = {
        "{\"sub\":\"ann\",\"role\":\"viewer\"}",                      /* no exp */
        "{\"sub\":\"ann\",\"role\":\"admin\",\"exp\":9}",            /* unknown role */
        "{\"sub\":\"ann\",\"role\":\"viewer\",\"exp\":\"9\"}",      /* exp not an integer */
        "{\"sub\":\"\",\"role\":\"viewer\",\"exp\":9}",              /* empty sub */
        "{\"role\":\"viewer\",\"exp\":9}",                              /* no sub */
        "{\"sub\":\"ann\",\"role\":\"viewer\",\"exp\":9,\"room\":\"a b\"}", /* bad room */
        "{\"sub\":\"ann\",\"role\":\"viewer\",\"exp\":9,\"nbf\":\"1\"}",  /* nbf not a number */
        "[1,2]",
        NULL};
    char tok[1024];
    for (int i = 0; payloads[i]; i++) {
        CHECK(lc_jwt_sign_payload(KEY, KL, payloads[i], tok, sizeof(tok)) > 0);
        CHECK_EQ_INT(verify(tok, 1, &out), LC_JWT_MALFORMED);
    }
    CHECK(lc_jwt_sign_payload(KEY, KL, "{\"sub\":\"ann\",\"role\":\"moderator\",\"exp\":9,\"x\":1}", tok,
                              sizeof(tok)) > 0);
    CHECK_EQ_INT(verify(tok, 1, &out), LC_JWT_OK);
    CHECK(out.role == LC_ROLE_MODERATOR);
}

static void test_roles_parse_only_the_three_names(void) {
    CHECK_EQ_INT(lc_role_parse("viewer", 6), LC_ROLE_VIEWER);
    CHECK_EQ_INT(lc_role_parse("streamer", 8), LC_ROLE_STREAMER);
    CHECK_EQ_INT(lc_role_parse("moderator", 9), LC_ROLE_MODERATOR);
    CHECK_EQ_INT(lc_role_parse("admin", 5), -1);
    CHECK_EQ_INT(lc_role_parse("Viewer", 6), -1);
}

int main(void) {
    RUN(test_signed_token_verifies_with_its_claims);
    RUN(test_expiry_allows_only_the_skew);
    RUN(test_not_before_allows_only_the_skew);
    RUN(test_a_token_living_longer_than_the_cap_is_refused);
    RUN(test_other_key_or_tampering_is_a_bad_signature);
    RUN(test_alg_none_and_other_algorithms_are_refused);
    RUN(test_malformed_tokens_are_refused);
    RUN(test_roles_parse_only_the_three_names);
    return lc_test_done();
}
