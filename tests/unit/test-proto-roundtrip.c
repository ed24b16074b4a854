/* Every message type survives encode -> decode in both formats with the same
 * keys and values, and the two formats agree with each other. */
#include <string.h>

#include "lc_proto.h"
#include "lc_test.h"

static lc_msg_t comment(const char *id, const char *user, const char *text, int64_t ts) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_COMMENT);
    lc_msg_set(&m, id, lc_cstr(id));
    lc_msg_set(&m, user, lc_cstr(user));
    lc_msg_set(&m, text, lc_cstr(text));
    lc_msg_set(&m, ts, ts);
    return m;
}

static int str_same(lc_str_t a, lc_str_t b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

static int same_list(const lc_msg_list_t *x, const lc_msg_list_t *y);

static int same_strs(const lc_strs_t *x, const lc_strs_t *y) {
    if (x->n != y->n) return 0;
    for (size_t i = 0; i < x->n; i++)
        if (!str_same(x->items[i], y->items[i])) return 0;
    return 1;
}

static int same_msg(const lc_msg_t *a, const lc_msg_t *b) {
    if (a->type != b->type || memcmp(&a->has, &b->has, sizeof(a->has)) != 0) return 0;
#define X(name, kind) if (lc_msg_has(a, name) && !same_##kind(&a->name, &b->name)) return 0;
#define same_STR(x, y) str_same(*(x), *(y))
#define same_INT(x, y) (*(x) == *(y))
#define same_BOOL(x, y) (!*(x) == !*(y))
#define same_LIST(x, y) same_list(x, y)
#define same_STRS(x, y) same_strs(x, y)
    LC_FIELDS(X)
#undef X
#define X(name, key, kind) if (lc_msg_has(a, name) && !same_##kind(&a->name, &b->name)) return 0;
    LC_FIELDS_AS(X)
#undef X
    return 1;
}

static int same_list(const lc_msg_list_t *x, const lc_msg_list_t *y) {
    if (x->n != y->n) return 0;
    for (size_t i = 0; i < x->n; i++)
        if (!same_msg(&x->items[i], &y->items[i])) return 0;
    return 1;
}

/* Encodes m in both formats, decodes each back, checks both equal m. */
static void roundtrip(const lc_msg_t *m, lc_dir_t dir) {
    for (int f = 0; f < LC_FMT_COUNT; f++) {
        lc_buf_t b = LC_BUF_INIT;
        CHECK(lc_msg_encode(m, (lc_fmt_t)f, &b) == 0);
        lc_msg_t d;
        lc_proto_err_t err;
        lc_msg_init(&d, LC_MSG_NONE);
        int rc = lc_msg_decode(&d, (lc_fmt_t)f, dir, b.p, b.len, &err);
        if (rc != 0) fprintf(stderr, "decode %s fmt %d: %s\n", lc_msg_type_name(m->type), f, err.message);
        CHECK(rc == 0);
        CHECK(same_msg(m, &d));
        lc_msg_clear(&d);
        lc_buf_free(&b);
    }
}

static void test_every_server_message_roundtrips_in_both_formats(void) {
    lc_msg_t c = comment("1764350000123-7", "ann", "héllo 👋 \"quoted\"\n", 1764350000123);
    roundtrip(&c, LC_DIR_S2C);

    lc_msg_t hist[3] = {comment("1-0", "a", "x", 1), comment("2-0", "b", "y", 2),
                        comment("2-1", "c", "z", 2)};
    lc_msg_t w;
    lc_msg_init(&w, LC_MSG_WELCOME);
    lc_msg_set(&w, room, lc_cstr("room-1"));
    lc_msg_set(&w, shard, lc_cstr("host:8080"));
    lc_msg_set(&w, viewers, 12);
    lc_msg_set(&w, likes, 9000000000LL);
    lc_msg_set(&w, last, lc_cstr("2-1"));
    lc_msg_list_t l = {hist, 3};
    lc_msg_set(&w, history, l);
    lc_msg_set(&w, recovered, 1);
    roundtrip(&w, LC_DIR_S2C);

    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_LIKES);
    lc_msg_set(&m, total, 0);
    roundtrip(&m, LC_DIR_S2C);
    lc_msg_init(&m, LC_MSG_VIEWERS);
    lc_msg_set(&m, count, 123456);
    roundtrip(&m, LC_DIR_S2C);
    lc_msg_init(&m, LC_MSG_GAP);
    lc_msg_set(&m, last, lc_cstr("0-0"));
    roundtrip(&m, LC_DIR_S2C);
    lc_msg_init(&m, LC_MSG_ERROR);
    lc_msg_set(&m, code, lc_cstr("bad_request"));
    lc_msg_set(&m, message, lc_cstr(""));
    roundtrip(&m, LC_DIR_S2C);
    lc_msg_init(&m, LC_MSG_PONG);
    roundtrip(&m, LC_DIR_S2C);
}

static void test_every_client_message_roundtrips_in_both_formats(void) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr("viewer-42"));
    lc_msg_set(&m, role, lc_cstr("streamer"));
    lc_msg_set(&m, since, lc_cstr("1764350000123-0"));
    lc_msg_set(&m, token, lc_cstr("abc.def.ghi"));
    roundtrip(&m, LC_DIR_C2S);
    lc_msg_init(&m, LC_MSG_COMMENT);
    lc_msg_set(&m, text, lc_cstr("hi"));
    roundtrip(&m, LC_DIR_C2S);
    lc_msg_init(&m, LC_MSG_LIKE);
    lc_msg_set(&m, count, 100);
    roundtrip(&m, LC_DIR_C2S);
    lc_msg_init(&m, LC_MSG_PING);
    roundtrip(&m, LC_DIR_C2S);
}

static void test_json_output_has_type_first_and_schema_order(void) {
    lc_msg_t c = comment("5-0", "u", "t", 5);
    lc_buf_t b = LC_BUF_INIT;
    CHECK(lc_msg_encode(&c, LC_FMT_JSON, &b) == 0);
    const char *want = "{\"type\":\"comment\",\"id\":\"5-0\",\"user\":\"u\",\"text\":\"t\",\"ts\":5}";
    CHECK(b.len == strlen(want) && memcmp(b.p, want, b.len) == 0);
    lc_buf_free(&b);
}

static void test_client_cannot_set_server_fields(void) {
    /* A client comment carrying user/id/ts: those keys are ignored. */
    const char *j = "{\"type\":\"comment\",\"text\":\"x\",\"user\":\"admin\",\"id\":\"9-9\",\"ts\":1}";
    lc_msg_t d;
    lc_proto_err_t err;
    lc_msg_init(&d, LC_MSG_NONE);
    CHECK(lc_msg_decode(&d, LC_FMT_JSON, LC_DIR_C2S, j, strlen(j), &err) == 0);
    CHECK(d.type == LC_MSG_COMMENT);
    CHECK(!lc_msg_has(&d, user) && !lc_msg_has(&d, id) && !lc_msg_has(&d, ts));
    lc_msg_clear(&d);
}

static void test_unknown_keys_are_ignored(void) {
    const char *j = "{\"type\":\"hello\",\"user\":\"u\",\"future\":[1,{\"a\":2}],\"token\":\"t\"}";
    lc_msg_t d;
    lc_proto_err_t err;
    lc_msg_init(&d, LC_MSG_NONE);
    CHECK(lc_msg_decode(&d, LC_FMT_JSON, LC_DIR_C2S, j, strlen(j), &err) == 0);
    CHECK(lc_str_eq(d.user, "u") && lc_str_eq(d.token, "t"));
    lc_msg_clear(&d);
}

static void test_msgpack_bin_is_accepted_as_string(void) {
    /* {"type": "comment", "text": bin8 "hi"} */
    const unsigned char mp[] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0xa7, 'c', 'o', 'm', 'm', 'e', 'n', 't',
                                0xa4, 't', 'e', 'x', 't', 0xc4, 0x02, 'h', 'i'};
    lc_msg_t d;
    lc_proto_err_t err;
    lc_msg_init(&d, LC_MSG_NONE);
    CHECK(lc_msg_decode(&d, LC_FMT_MSGPACK, LC_DIR_C2S, mp, sizeof(mp), &err) == 0);
    CHECK(lc_str_eq(d.text, "hi"));
    lc_msg_clear(&d);
}

/* `winners` is a count in `lottery` and the users in `lottery_result`; `entries` a list of
 * members in `top` and a count in `lottery_result`: one key, two kinds, by type. */
static void test_a_key_may_mean_a_count_in_one_type_and_a_list_in_another(void) {
    lc_str_t users[] = {lc_cstr("ann"), lc_cstr("bö"), lc_cstr("zed")};
    lc_msg_t r;
    lc_msg_init(&r, LC_MSG_LOTTERY_RESULT);
    lc_msg_set(&r, lottery, lc_cstr("bag1"));
    lc_msg_set(&r, winner_list, ((lc_strs_t){users, 3}));
    lc_msg_set(&r, entry_count, 42);
    lc_msg_set(&r, seed, lc_cstr("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    roundtrip(&r, LC_DIR_S2C);
    lc_buf_t b = LC_BUF_INIT;
    CHECK(lc_msg_encode(&r, LC_FMT_JSON, &b) == 0);
    CHECK(strstr((const char *)b.p, "\"winners\":[\"ann\",\"b\u00f6\",\"zed\"]") ||
          strstr((const char *)b.p, "\"winners\":[\"ann\",\"bö\",\"zed\"]"));
    CHECK(strstr((const char *)b.p, "\"entries\":42") != NULL);
    lc_buf_free(&b);
    lc_msg_t l;
    lc_msg_init(&l, LC_MSG_LOTTERY);
    lc_msg_set(&l, lottery, lc_cstr("bag1"));
    lc_msg_set(&l, prize, lc_cstr("a tea set"));
    lc_msg_set(&l, winners, 3);
    lc_msg_set(&l, ends, 1764350000123);
    lc_msg_set(&l, keyword, lc_cstr("TEA"));
    lc_msg_set(&l, commit, lc_cstr("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"));
    lc_msg_set(&l, entry_count, 7);
    roundtrip(&l, LC_DIR_S2C);
    lc_msg_t e[2];
    lc_msg_init(&e[0], LC_MSG_MEMBER);
    lc_msg_set(&e[0], user, lc_cstr("ann"));
    lc_msg_set(&e[0], score, 120);
    lc_msg_init(&e[1], LC_MSG_MEMBER);
    lc_msg_set(&e[1], user, lc_cstr("bob"));
    lc_msg_set(&e[1], score, 7);
    lc_msg_t t;
    lc_msg_init(&t, LC_MSG_TOP);
    lc_msg_set(&t, board, lc_cstr("likes"));
    lc_msg_set(&t, entries, ((lc_msg_list_t){e, 2}));
    roundtrip(&t, LC_DIR_S2C);
    lc_msg_t g;
    lc_msg_init(&g, LC_MSG_BUYING);
    lc_msg_set(&g, count, 23);
    lc_msg_set(&g, users, ((lc_strs_t){users, 2}));
    roundtrip(&g, LC_DIR_S2C);
}

static void test_a_list_of_users_takes_only_short_strings(void) {
    static const char *const bad[] = {
        "{\"type\":\"buying\",\"count\":1,\"users\":[1]}",
        "{\"type\":\"buying\",\"count\":1,\"users\":[\"\"]}",
        "{\"type\":\"buying\",\"count\":1,\"users\":[\"a\",\"b\",\"c\",\"d\"]}",
        "{\"type\":\"buying\",\"count\":1,\"users\":\"ann\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lc_msg_t m;
        lc_proto_err_t err;
        lc_msg_init(&m, LC_MSG_NONE);
        CHECK(lc_msg_decode(&m, LC_FMT_JSON, LC_DIR_S2C, bad[i], strlen(bad[i]), &err) == -1);
        CHECK(err.code == LC_ERR_BAD_REQUEST);
    }
}

static void test_stream_ids_compare_numerically(void) {
    lc_sid_t a, b;
    CHECK(lc_sid_parse(&a, "9-0", 3) == 0);
    CHECK(lc_sid_parse(&b, "10-0", 4) == 0);
    CHECK(lc_sid_cmp(a, b) < 0);
    CHECK(lc_sid_parse(&b, "9-10", 4) == 0);
    CHECK(lc_sid_cmp(a, b) < 0 && lc_sid_cmp(b, a) > 0 && lc_sid_cmp(a, a) == 0);
    CHECK(lc_sid_parse(&a, "18446744073709551615-18446744073709551615", 41) == 0);
    CHECK(lc_sid_parse(&a, "18446744073709551616-0", 22) != 0);
    CHECK(lc_sid_parse(&a, "-1", 2) != 0);
    CHECK(lc_sid_parse(&a, "1-", 2) != 0);
    CHECK(lc_sid_parse(&a, "1-x", 3) != 0);
    CHECK(lc_sid_parse(&a, "12", 2) != 0);
    char buf[42];
    lc_sid_t c = {1764350000123ULL, 7};
    CHECK(lc_sid_format(c, buf) == 15 && strcmp(buf, "1764350000123-7") == 0);
}

int main(void) {
    RUN(test_every_server_message_roundtrips_in_both_formats);
    RUN(test_every_client_message_roundtrips_in_both_formats);
    RUN(test_json_output_has_type_first_and_schema_order);
    RUN(test_client_cannot_set_server_fields);
    RUN(test_unknown_keys_are_ignored);
    RUN(test_msgpack_bin_is_accepted_as_string);
    RUN(test_stream_ids_compare_numerically);
    RUN(test_a_key_may_mean_a_count_in_one_type_and_a_list_in_another);
    RUN(test_a_list_of_users_takes_only_short_strings);
    return lc_test_done();
}
