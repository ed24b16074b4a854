/*
 * The one schema of the livecart protocol. PROTOCOL.md documents the same
 * tables for humans; a change here is a protocol change: update both.
 */
#include <stddef.h>
#include <string.h>

#include "proto_int.h"

#define C2S LC_DIR_C2S
#define S2C LC_DIR_S2C
#define BOTH (LC_DIR_C2S | LC_DIR_S2C)
#define NOMAX INT64_MAX

const lc__field_desc_t lc__fields[LC_F__COUNT] = {
#define X(name, kind) {#name, sizeof(#name) - 1, LC__K_##kind, offsetof(lc_msg_t, name)},
    LC_FIELDS(X)
#undef X
};

static const char *const roles[] = {"viewer", "streamer", NULL};

/* Rule shorthands: key, who may send it, who must, min, max. */
#define R(f, d, q, lo, hi) {LC_F_##f, d, q, lo, hi, LC__CHK_NONE, NULL, LC_MSG_NONE}
#define RSID(f, d, q) {LC_F_##f, d, q, 3, 41, LC__CHK_SID, NULL, LC_MSG_NONE}

static const lc__rule_t hello_rules[] = {
    R(user, C2S, C2S, 1, 64),
    {LC_F_role, C2S, 0, 1, 16, LC__CHK_ONEOF, roles, LC_MSG_NONE},
    R(token, C2S, 0, 1, 4096),
    RSID(since, C2S, 0),
};
static const lc__rule_t welcome_rules[] = {
    R(room, S2C, S2C, 1, 64),
    R(shard, S2C, S2C, 1, 128),
    R(viewers, S2C, S2C, 0, NOMAX),
    R(likes, S2C, S2C, 0, NOMAX),
    RSID(last, S2C, S2C),
    {LC_F_history, S2C, S2C, 0, 100000, LC__CHK_NONE, NULL, LC_MSG_COMMENT},
    R(recovered, S2C, 0, 0, 1),
};
static const lc__rule_t comment_rules[] = {
    RSID(id, S2C, S2C),
    R(user, S2C, S2C, 1, 64),
    R(text, BOTH, BOTH, 1, 500),
    R(ts, S2C, S2C, 0, NOMAX),
};
static const lc__rule_t like_rules[] = {R(count, C2S, C2S, 1, 100)};
static const lc__rule_t likes_rules[] = {R(total, S2C, S2C, 0, NOMAX)};
static const lc__rule_t viewers_rules[] = {R(count, S2C, S2C, 0, NOMAX)};
static const lc__rule_t gap_rules[] = {RSID(last, S2C, S2C)};
static const lc__rule_t error_rules[] = {
    R(code, S2C, S2C, 1, 64),
    R(message, S2C, S2C, 0, 1024),
};

#define T(name, dirs, rules) {name, dirs, rules, sizeof(rules) / sizeof(rules[0])}
#define T0(name, dirs) {name, dirs, NULL, 0}

const lc__type_desc_t lc__types[LC_MSG__COUNT] = {
    [LC_MSG_NONE] = T0(NULL, 0),
    [LC_MSG_HELLO] = T("hello", C2S, hello_rules),
    [LC_MSG_WELCOME] = T("welcome", S2C, welcome_rules),
    [LC_MSG_COMMENT] = T("comment", BOTH, comment_rules),
    [LC_MSG_LIKE] = T("like", C2S, like_rules),
    [LC_MSG_LIKES] = T("likes", S2C, likes_rules),
    [LC_MSG_VIEWERS] = T("viewers", S2C, viewers_rules),
    [LC_MSG_PING] = T0("ping", C2S),
    [LC_MSG_PONG] = T0("pong", S2C),
    [LC_MSG_GAP] = T("gap", S2C, gap_rules),
    [LC_MSG_ERROR] = T("error", S2C, error_rules),
};

lc_msg_type_t lc__type_lookup(const char *s, size_t n) {
    for (int t = 1; t < LC_MSG__COUNT; t++) {
        const char *name = lc__types[t].name;
        if (strlen(name) == n && memcmp(name, s, n) == 0) return (lc_msg_type_t)t;
    }
    return LC_MSG_NONE;
}

const lc__rule_t *lc__rule_find(lc_msg_type_t t, const char *key, size_t n) {
    const lc__type_desc_t *td = &lc__types[t];
    for (size_t i = 0; i < td->nrules; i++) {
        const lc__field_desc_t *fd = &lc__fields[td->rules[i].f];
        if (fd->name_len == n && memcmp(fd->name, key, n) == 0) return &td->rules[i];
    }
    return NULL;
}

const char *lc_msg_type_name(lc_msg_type_t t) {
    return (t > LC_MSG_NONE && t < LC_MSG__COUNT) ? lc__types[t].name : NULL;
}

const char *lc_err_code_name(lc_err_code_t c) {
    static const char *const names[LC_ERR__COUNT] = {
        [LC_ERR_NONE] = NULL,
#define X(id, name) [LC_ERR_##id] = name,
        LC_ERR_CODES(X)
#undef X
    };
    return (c >= 0 && c < LC_ERR__COUNT) ? names[c] : NULL;
}
