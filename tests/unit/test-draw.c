/* The lucky-bag draw's positions (server/draw.c) against vectors computed
 * independently (python3 hashlib, full Fisher-Yates on the indexes):
 *   seed = bytes 0..31; n 10, K 4 -> 2 4 5 3; n 10^6, K 5 -> 300512 851629 294021
 *   759583 592760; n 3, K 10 -> 1 2 0 (k = n); seed 32 zero bytes, n 2, K 1 -> 1. */
#include <string.h>

#include "draw.h"
#include "lc_test.h"

static void check(const uint8_t seed[32], uint64_t n, unsigned K, const uint64_t *want, int k) {
    uint64_t pos[LC_DRAW_MAX_K];
    CHECK_EQ_INT(lc_draw_positions(seed, n, K, pos), k);
    for (int i = 0; i < k; i++) CHECK(pos[i] == want[i]);
}

static void test_the_positions_follow_the_protocol_rule(void) {
    uint8_t seed[32], zero[32] = {0};
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)i;
    check(seed, 10, 4, (const uint64_t[]){2, 4, 5, 3}, 4);
    check(seed, 1000000, 5, (const uint64_t[]){300512, 851629, 294021, 759583, 592760}, 5);
    check(seed, 3, 10, (const uint64_t[]){1, 2, 0}, 3);
    check(zero, 2, 1, (const uint64_t[]){1}, 1);
    uint64_t pos[1];
    CHECK_EQ_INT(lc_draw_positions(seed, 0, 5, pos), 0); /* nobody entered: nobody wins */
}

static void test_a_thousand_winners_of_a_million_are_distinct_and_in_range(void) {
    uint8_t seed[32];
    for (int i = 0; i < 32; i++) seed[i] = (uint8_t)(7 * i + 1);
    static uint64_t pos[LC_DRAW_MAX_K];
    CHECK_EQ_INT(lc_draw_positions(seed, 1000000, 1000, pos), 1000);
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        ok &= pos[i] < 1000000;
        for (int j = 0; j < i; j++) ok &= pos[j] != pos[i];
    }
    CHECK(ok);
    CHECK_EQ_INT(lc_draw_positions(seed, 5000, 1001, pos), -1); /* K over the maximum */
}

static void test_seeds_are_64_hex_digits(void) {
    uint8_t s[32];
    CHECK_EQ_INT(lc_draw_unhex("000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F", 64, s), 0);
    CHECK(s[0] == 0 && s[10] == 10 && s[31] == 31);
    CHECK_EQ_INT(lc_draw_unhex("00", 2, s), -1);
    CHECK_EQ_INT(lc_draw_unhex("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64, s), -1);
}

int main(void) {
    RUN(test_the_positions_follow_the_protocol_rule);
    RUN(test_a_thousand_winners_of_a_million_are_distinct_and_in_range);
    RUN(test_seeds_are_64_hex_digits);
    return lc_test_done();
}
