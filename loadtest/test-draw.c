/* The lucky-bag draw in C (draw.c) and the check of a drawn lottery's API
 * answer (draw_answer.c), against vectors computed independently with
 * Python's hashlib from PROTOCOL.md's rule:
 *
 *   import hashlib
 *   def draw(seed, n, k):
 *       p = list(range(n)); k = min(k, n)
 *       for i in range(k):
 *           h = int.from_bytes(hashlib.sha256(seed + str(i).encode()).digest()[:8], 'big')
 *           j = i + h % (n - i)
 *           p[i], p[j] = p[j], p[i]
 *       return p[:k]
 *   s1 = bytes(range(32)); s2 = bytes([0xff] * 32); s3 = hashlib.sha256(b"livecart").digest()
 *   hashlib.sha256(s1).hexdigest()   # the commits below
 *   draw(s1, 10, 3), draw(s1, 5, 5), draw(s2, 20, 15), draw(s3, 1000, 100)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "lc_test.h"

static const char S1_HEX[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char S1_COMMIT[] = "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd";
static const char S2_COMMIT[] = "af9613760f72635fbdb44a5a0a63c39f12af30f950a6ee5c971be188e89c4051";
static const char S3_HEX[] = "c591dbf08eddbf5e532360a5de39e1ce5702cd9bccbae36431731d5d233e7677";

/* n synthetic entrants "u0000", "u0001", ...: sorted bytewise by construction. */
static lc_str_t *entrants(size_t n, char (**names)[8]) {
    *names = calloc(n ? n : 1, sizeof(**names));
    lc_str_t *v = calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        snprintf((*names)[i], 8, "u%04zu", i);
        v[i] = lc_cstr((*names)[i]);
    }
    return v;
}

/* draw(seed, n, k) equals want[0..nw). */
static int draw_is(const uint8_t *seed, size_t n, size_t k, const size_t *want, size_t nw) {
    char(*names)[8];
    lc_str_t *v = entrants(n, &names);
    size_t out[1000];
    long got = lt_draw(seed, v, n, k, out);
    int ok = got == (long)nw;
    for (size_t i = 0; ok && i < nw; i++) ok = out[i] == want[i];
    free(v);
    free(names);
    return ok;
}

static void test_sha256_and_commit_match_the_fips_vector_and_python(void) {
    uint8_t d[32], seed[32];
    CHECK_EQ_INT(lt_draw_sha256("abc", 3, d), 0);
    CHECK(d[0] == 0xba && d[1] == 0x78 && d[30] == 0x15 && d[31] == 0xad); /* FIPS 180-2 "abc" */
    CHECK_EQ_INT(lt_draw_seed_parse(S1_HEX, 64, seed), 0);
    for (int i = 0; i < 32; i++) CHECK_EQ_INT(seed[i], i);
    char c[65];
    CHECK_EQ_INT(lt_draw_commit(seed, c), 0);
    CHECK(strcmp(c, S1_COMMIT) == 0);
    CHECK_EQ_INT(lt_draw_commit_ok(seed, S1_COMMIT, 64), 1);
    memset(seed, 0xff, 32);
    CHECK_EQ_INT(lt_draw_commit_ok(seed, S2_COMMIT, 64), 1);
    CHECK_EQ_INT(lt_draw_commit_ok(seed, S1_COMMIT, 64), 0);
}

static void test_commit_must_be_exact_lowercase_hex(void) {
    uint8_t seed[32];
    CHECK_EQ_INT(lt_draw_seed_parse(S1_HEX, 64, seed), 0);
    char up[65];
    for (int i = 0; i < 65; i++)
        up[i] = (char)(S1_COMMIT[i] >= 'a' && S1_COMMIT[i] <= 'f' ? S1_COMMIT[i] - 32 : S1_COMMIT[i]);
    CHECK_EQ_INT(lt_draw_commit_ok(seed, up, 64), 0);
    CHECK_EQ_INT(lt_draw_commit_ok(seed, S1_COMMIT, 63), 0);
    /* a seed may come in either case; anything but 64 hex digits is refused */
    uint8_t s2[32];
    CHECK_EQ_INT(lt_draw_seed_parse("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", 64, s2), 0);
    CHECK(memcmp(seed, s2, 32) == 0);
    CHECK_EQ_INT(lt_draw_seed_parse(S1_HEX, 62, s2), -1);
    CHECK_EQ_INT(lt_draw_seed_parse("g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64, s2), -1);
}

static void test_draw_matches_python_vectors(void) {
    uint8_t s1[32], s2[32], s3[32];
    lt_draw_seed_parse(S1_HEX, 64, s1);
    memset(s2, 0xff, 32);
    lt_draw_seed_parse(S3_HEX, 64, s3);
    CHECK(draw_is(s1, 10, 3, (size_t[]){2, 4, 5}, 3));
    CHECK(draw_is(s1, 5, 5, (size_t[]){2, 4, 3, 0, 1}, 5));
    CHECK(draw_is(s1, 5, 9, (size_t[]){2, 4, 3, 0, 1}, 5)); /* k = min(K, n) */
    CHECK(draw_is(s2, 1, 1, (size_t[]){0}, 1));
    CHECK(draw_is(s2, 0, 5, NULL, 0));
    /* steps 10..14: decimal(i) has two digits */
    CHECK(draw_is(s2, 20, 15, (size_t[]){3, 16, 11, 1, 0, 10, 7, 13, 15, 8, 5, 4, 9, 18, 17}, 15));
    static const size_t big[100] = {447, 533, 358, 432, 446, 362, 577, 22,  496, 642, 129, 497, 95,  817, 596, 14,  566,
                                    409, 558, 972, 895, 541, 878, 801, 750, 787, 338, 917, 876, 882, 177, 518, 282, 302,
                                    753, 263, 576, 169, 771, 106, 945, 587, 342, 80,  417, 287, 820, 614, 735, 128, 811,
                                    53,  835, 652, 722, 215, 58,  235, 62,  60,  584, 77,  127, 23,  903, 478, 7,   593,
                                    635, 551, 386, 928, 158, 370, 936, 101, 788, 304, 608, 995, 975, 549, 974, 781, 68,
                                    708, 890, 137, 213, 147, 39,  2,   124, 631, 323, 664, 829, 341, 910, 763};
    CHECK(draw_is(s3, 1000, 100, big, 100));
}

static void test_entrants_must_be_sorted_bytewise_and_distinct(void) {
    lc_str_t ok[] = {lc_cstr("Zed"), lc_cstr("ann"), lc_cstr("ann2"), lc_cstr("\xc3\xa9mile")};
    CHECK_EQ_INT(lt_draw_unsorted_at(ok, 4), 4); /* uppercase before lowercase, a prefix first, UTF-8 last */
    lc_str_t dup[] = {lc_cstr("ann"), lc_cstr("bob"), lc_cstr("bob")};
    CHECK_EQ_INT(lt_draw_unsorted_at(dup, 3), 2);
    lc_str_t order[] = {lc_cstr("ann2"), lc_cstr("ann")};
    CHECK_EQ_INT(lt_draw_unsorted_at(order, 2), 1);
    uint8_t seed[32] = {0};
    size_t out[3];
    CHECK_EQ_INT(lt_draw(seed, dup, 3, 2, out), LT_DRAW_EUNSORTED);
    CHECK(lt_draw_cmp(lc_cstr("a"), lc_cstr("ab")) < 0 && lt_draw_cmp(lc_cstr("b"), lc_cstr("ab")) > 0);
    CHECK(lt_draw_cmp(lc_cstr("\x7f"), lc_cstr("\x80")) < 0); /* unsigned bytes, as memcmp */
}

/* A drawn lottery's answer: 7 entrants, K 3; with s1 the draw is
 * [3, 4, 0] = bob, carl, Zed (Python, as above). */
static json_t *answer(void) {
    return json_pack("{sssssisssssssisIs[sssssss]s[sss]}", "lottery", "bag1", "prize", "a bag", "k", 3, "state",
                     "drawn", "seed", S1_HEX, "commit", S1_COMMIT, "entries", 7, "ends", (json_int_t)1764350000000,
                     "entrants", "Zed", "ann", "ann2", "bob", "carl", "dora", "\xc3\xa9mile", "winners", "bob", "carl",
                     "Zed");
}

/* The failed checks of answer a (freed); the log is shown when the count
 * is not the one expected (want_fail: some, else none). */
static int verify_as(json_t *a, int want_fail) {
    char log[4096];
    int failed = lt_draw_verify_answer(a, log, sizeof(log));
    if ((failed > 0) != want_fail) fprintf(stderr, "%s", log);
    json_decref(a);
    return failed;
}
#define verify(a) verify_as((a), 1)

static void test_answer_verified_and_every_tampering_found(void) {
    CHECK_EQ_INT(verify_as(answer(), 0), 0);
    json_t *a = answer(); /* two winners swapped: the order is part of the draw */
    json_array_set_new(json_object_get(a, "winners"), 0, json_string("carl"));
    json_array_set_new(json_object_get(a, "winners"), 1, json_string("bob"));
    CHECK(verify(a) > 0);
    a = answer(); /* a winner replaced by another entrant */
    json_array_set_new(json_object_get(a, "winners"), 2, json_string("dora"));
    CHECK(verify(a) > 0);
    a = answer(); /* another seed: the commit no longer holds, nor the draw */
    json_object_set_new(a, "seed", json_string(S3_HEX));
    CHECK(verify(a) >= 2);
    a = answer(); /* entrants out of order */
    json_array_set_new(json_object_get(a, "entrants"), 0, json_string("zed"));
    CHECK(verify(a) > 0);
    a = answer(); /* an entrant dropped: count and draw differ */
    json_array_remove(json_object_get(a, "entrants"), 5);
    CHECK(verify(a) > 0);
    a = answer(); /* one winner too few */
    json_array_remove(json_object_get(a, "winners"), 2);
    CHECK(verify(a) > 0);
    a = answer(); /* not drawn yet */
    json_object_set_new(a, "state", json_string("open"));
    CHECK(verify(a) > 0);
    CHECK(verify(json_string("x")) > 0);
}

int main(void) {
    RUN(test_sha256_and_commit_match_the_fips_vector_and_python);
    RUN(test_commit_must_be_exact_lowercase_hex);
    RUN(test_draw_matches_python_vectors);
    RUN(test_entrants_must_be_sorted_bytewise_and_distinct);
    RUN(test_answer_verified_and_every_tampering_found);
    return lc_test_done();
}
