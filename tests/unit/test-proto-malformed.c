/* Every class of bad input is refused with the right error code, never
 * crashes, and leaves the message empty. Ends with a random-input sweep. */
#include <stdlib.h>
#include <string.h>

#include "lc_proto.h"
#include "lc_test.h"

static lc_err_code_t decode_code(lc_fmt_t f, lc_dir_t dir, const void *p, size_t n) {
    lc_msg_t m;
    lc_proto_err_t err;
    lc_msg_init(&m, LC_MSG_NONE);
    int rc = lc_msg_decode(&m, f, dir, p, n, &err);
    if (rc == 0) {
        lc_msg_clear(&m);
        return LC_ERR_NONE;
    }
    /* A refused message owns nothing and says why. */
    if (m.arena != NULL || m.type != LC_MSG_NONE || err.message[0] == '\0') return (lc_err_code_t)-1;
    return err.code;
}

static lc_err_code_t json_code(const char *s) {
    return decode_code(LC_FMT_JSON, LC_DIR_C2S, s, strlen(s));
}

static void test_malformed_json_is_bad_request(void) {
    const char *bad[] = {"", "{", "}", "[]", "1", "null", "\"hello\"", "{\"type\":\"ping\"} x",
                         "{\"type\":\"ping\",}", "{'type':'ping'}", "{\"type\":\"ping\"\x01}", NULL};
    for (int i = 0; bad[i]; i++) CHECK_EQ_INT(json_code(bad[i]), LC_ERR_BAD_REQUEST);
}

static void test_type_missing_or_not_string_is_bad_request(void) {
    CHECK_EQ_INT(json_code("{}"), LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(json_code("{\"text\":\"x\"}"), LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(json_code("{\"type\":1}"), LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(json_code("{\"type\":null}"), LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(json_code("{\"type\":\"ping\",\"type\":\"ping\"}"), LC_ERR_BAD_REQUEST);
}

static void test_unknown_or_wrong_direction_type_is_unknown_type(void) {
    CHECK_EQ_INT(json_code("{\"type\":\"nope\"}"), LC_ERR_UNKNOWN_TYPE);
    CHECK_EQ_INT(json_code("{\"type\":\"\"}"), LC_ERR_UNKNOWN_TYPE);
    CHECK_EQ_INT(json_code("{\"type\":\"welcome\"}"), LC_ERR_UNKNOWN_TYPE);
    CHECK_EQ_INT(json_code("{\"type\":\"error\",\"code\":\"x\",\"message\":\"y\"}"), LC_ERR_UNKNOWN_TYPE);
    CHECK_EQ_INT(json_code("{\"type\":\"\\u00e9\\u00e9\"}"), LC_ERR_UNKNOWN_TYPE);
    /* ... and the other way round: a server never gets hello from a server. */
    CHECK_EQ_INT(decode_code(LC_FMT_JSON, LC_DIR_S2C, "{\"type\":\"hello\",\"user\":\"u\"}", 27),
                 LC_ERR_UNKNOWN_TYPE);
}

static void test_missing_or_wrong_typed_fields_are_bad_request(void) {
    const char *bad[] = {
        "{\"type\":\"hello\",\"user\":\"\"}",
        "{\"type\":\"hello\",\"user\":1}",
        "{\"type\":\"hello\",\"user\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"type\":\"hello\",\"user\":\"u\",\"role\":\"admin\"}",
        "{\"type\":\"hello\",\"user\":\"u\",\"role\":null}",
        "{\"type\":\"hello\",\"user\":\"u\",\"since\":\"abc\"}",
        "{\"type\":\"hello\",\"user\":\"u\",\"since\":5}",
        "{\"type\":\"hello\",\"user\":\"a\\u0000b\"}",
        "{\"type\":\"comment\"}",
        "{\"type\":\"comment\",\"text\":\"\"}",
        "{\"type\":\"comment\",\"text\":[\"x\"]}",
        "{\"type\":\"comment\",\"text\":\"\xff\"}",
        "{\"type\":\"comment\",\"text\":\"\\ud800\"}",
        "{\"type\":\"like\"}",
        "{\"type\":\"like\",\"count\":0}",
        "{\"type\":\"like\",\"count\":101}",
        "{\"type\":\"like\",\"count\":-1}",
        "{\"type\":\"like\",\"count\":\"5\"}",
        "{\"type\":\"like\",\"count\":1.5}",
        "{\"type\":\"like\",\"count\":1.0}",
        "{\"type\":\"like\",\"count\":true}",
        "{\"type\":\"like\",\"count\":99999999999999999999999}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        lc_err_code_t c = json_code(bad[i]);
        if (c != LC_ERR_BAD_REQUEST) fprintf(stderr, "  input: %s\n", bad[i]);
        CHECK_EQ_INT(c, LC_ERR_BAD_REQUEST);
    }
}

static void test_text_limits_are_bytes(void) {
    char buf[700];
    char text[520];
    memset(text, 'a', sizeof(text));
    text[500] = '\0';
    snprintf(buf, sizeof(buf), "{\"type\":\"comment\",\"text\":\"%s\"}", text);
    CHECK_EQ_INT(json_code(buf), LC_ERR_NONE);
    text[500] = 'a';
    text[501] = '\0';
    snprintf(buf, sizeof(buf), "{\"type\":\"comment\",\"text\":\"%s\"}", text);
    CHECK_EQ_INT(json_code(buf), LC_ERR_BAD_REQUEST);
    /* 167 three-byte characters = 501 bytes */
    char big[600] = "";
    for (int i = 0; i < 167; i++) strcat(big, "\xe2\x82\xac");
    snprintf(buf, sizeof(buf), "{\"type\":\"comment\",\"text\":\"%s\"}", big);
    CHECK_EQ_INT(json_code(buf), LC_ERR_BAD_REQUEST);
}

#define MP(...) ((const unsigned char[]){__VA_ARGS__}), sizeof((const unsigned char[]){__VA_ARGS__})

static lc_err_code_t mp_code(const unsigned char *p, size_t n) {
    return decode_code(LC_FMT_MSGPACK, LC_DIR_C2S, p, n);
}

static void test_malformed_msgpack_is_bad_request(void) {
    /* {"type":"ping"} is 0x81 a4 type a4 ping */
    CHECK_EQ_INT(mp_code(MP(0x81, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'i', 'n', 'g')), LC_ERR_NONE);
    CHECK_EQ_INT(mp_code(MP(0x81, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'i', 'n')), LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(mp_code(MP(0x81, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'i', 'n', 'g', 0x00)),
                 LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(mp_code(MP(0xc1)), LC_ERR_BAD_REQUEST);
    CHECK_EQ_INT(mp_code(MP(0x90)), LC_ERR_BAD_REQUEST);  /* an array, not a map */
    CHECK_EQ_INT(mp_code(MP(0x01)), LC_ERR_BAD_REQUEST);
    /* array32 claiming 2^32-1 items in a 5-byte frame */
    CHECK_EQ_INT(mp_code(MP(0xdd, 0xff, 0xff, 0xff, 0xff)), LC_ERR_BAD_REQUEST);
    /* map32 claiming 2^31 pairs */
    CHECK_EQ_INT(mp_code(MP(0xdf, 0x80, 0x00, 0x00, 0x00, 0x01)), LC_ERR_BAD_REQUEST);
    /* str32 claiming 4 GiB */
    CHECK_EQ_INT(mp_code(MP(0xdb, 0xff, 0xff, 0xff, 0xff, 'a')), LC_ERR_BAD_REQUEST);
    /* deep nesting */
    unsigned char deep[64];
    memset(deep, 0x91, sizeof(deep));
    deep[63] = 0x01;
    CHECK_EQ_INT(mp_code(deep, sizeof(deep)), LC_ERR_BAD_REQUEST);
    /* non-string key */
    CHECK_EQ_INT(mp_code(MP(0x82, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'i', 'n', 'g', 0x01, 0x02)),
                 LC_ERR_BAD_REQUEST);
}

static void test_msgpack_field_types_are_checked(void) {
    /* {"type":"like","count":X} with several X */
    unsigned char base[] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'l', 'i', 'k', 'e',
                            0xa5, 'c', 'o', 'u', 'n', 't'};
    struct {
        unsigned char v[9];
        size_t n;
        lc_err_code_t want;
    } cases[] = {
        {{0x05}, 1, LC_ERR_NONE},
        {{0x00}, 1, LC_ERR_BAD_REQUEST},
        {{0x65}, 1, LC_ERR_BAD_REQUEST},                   /* 101 */
        {{0xff}, 1, LC_ERR_BAD_REQUEST},                   /* -1 */
        {{0xc0}, 1, LC_ERR_BAD_REQUEST},                   /* nil */
        {{0xc3}, 1, LC_ERR_BAD_REQUEST},                   /* true */
        {{0xca, 0x3f, 0x80, 0, 0}, 5, LC_ERR_BAD_REQUEST}, /* 1.0f */
        {{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, LC_ERR_BAD_REQUEST},
        {{0xa1, '5'}, 2, LC_ERR_BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char buf[64];
        memcpy(buf, base, sizeof(base));
        memcpy(buf + sizeof(base), cases[i].v, cases[i].n);
        lc_err_code_t got = mp_code(buf, sizeof(base) + cases[i].n);
        if (got != cases[i].want) fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ_INT(got, cases[i].want);
    }
    /* invalid UTF-8 in a msgpack str */
    CHECK_EQ_INT(mp_code(MP(0x82, 0xa4, 't', 'y', 'p', 'e', 0xa7, 'c', 'o', 'm', 'm', 'e', 'n', 't',
                            0xa4, 't', 'e', 'x', 't', 0xa2, 0xc3, 0x28)),
                 LC_ERR_BAD_REQUEST);
    /* NUL inside a msgpack str */
    CHECK_EQ_INT(mp_code(MP(0x82, 0xa4, 't', 'y', 'p', 'e', 0xa7, 'c', 'o', 'm', 'm', 'e', 'n', 't',
                            0xa4, 't', 'e', 'x', 't', 0xa2, 'a', 0x00)),
                 LC_ERR_BAD_REQUEST);
    /* duplicate key */
    CHECK_EQ_INT(mp_code(MP(0x83, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'l', 'i', 'k', 'e', 0xa5, 'c', 'o',
                            'u', 'n', 't', 0x01, 0xa5, 'c', 'o', 'u', 'n', 't', 0x02)),
                 LC_ERR_BAD_REQUEST);
}

static void test_utf8_validator_rejects_every_bad_form(void) {
    CHECK(lc_utf8_valid("", 0));
    CHECK(lc_utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x91\x8b", 10));
    CHECK(!lc_utf8_valid("\xc0\xaf", 2));             /* overlong */
    CHECK(!lc_utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
    CHECK(!lc_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
    CHECK(!lc_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
    CHECK(!lc_utf8_valid("\xe2\x82", 2));             /* truncated */
    CHECK(!lc_utf8_valid("\x80", 1));                 /* lone continuation */
    CHECK(!lc_utf8_valid("\xf8\x88\x80\x80\x80", 5)); /* 5-byte form */
}

/* Random bytes and random mutations of valid messages, through both
 * decoders: nothing may crash (the ASan build makes this a memory test). */
static void test_random_input_never_crashes(void) {
    const char *seeds[] = {
        "{\"type\":\"hello\",\"user\":\"u\",\"role\":\"viewer\",\"since\":\"1-0\"}",
        "{\"type\":\"comment\",\"text\":\"hello\"}",
        "{\"type\":\"like\",\"count\":5}",
    };
    unsigned state = 12345;
    unsigned char buf[256];
    int accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        state = state * 1103515245u + 12345u;
        size_t n;
        if (iter % 2) {
            const char *s = seeds[(state >> 8) % 3];
            n = strlen(s);
            memcpy(buf, s, n);
            int flips = 1 + (int)((state >> 4) % 4);
            for (int k = 0; k < flips; k++) {
                state = state * 1103515245u + 12345u;
                buf[(state >> 8) % n] = (unsigned char)(state >> 16);
            }
        } else {
            n = (state >> 8) % sizeof(buf);
            for (size_t k = 0; k < n; k++) {
                state = state * 1103515245u + 12345u;
                buf[k] = (unsigned char)(state >> 16);
            }
            if (n) buf[0] = (unsigned char)(0x80 | (buf[0] & 0x0f)); /* often a fixmap */
        }
        for (int f = 0; f < LC_FMT_COUNT; f++) {
            lc_msg_t m;
            lc_proto_err_t err;
            lc_msg_init(&m, LC_MSG_NONE);
            if (lc_msg_decode(&m, (lc_fmt_t)f, LC_DIR_C2S, buf, n, &err) == 0) {
                accepted++;
                /* anything accepted re-encodes */
                lc_buf_t b = LC_BUF_INIT;
                CHECK(lc_msg_encode(&m, (lc_fmt_t)f, &b) == 0);
                lc_buf_free(&b);
                lc_msg_clear(&m);
            } else {
                CHECK(err.code != LC_ERR_NONE);
            }
        }
    }
    CHECK(accepted > 0);
}

int main(void) {
    RUN(test_malformed_json_is_bad_request);
    RUN(test_type_missing_or_not_string_is_bad_request);
    RUN(test_unknown_or_wrong_direction_type_is_unknown_type);
    RUN(test_missing_or_wrong_typed_fields_are_bad_request);
    RUN(test_text_limits_are_bytes);
    RUN(test_malformed_msgpack_is_bad_request);
    RUN(test_msgpack_field_types_are_checked);
    RUN(test_utf8_validator_rejects_every_bad_form);
    RUN(test_random_input_never_crashes);
    return lc_test_done();
}
