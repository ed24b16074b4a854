#include "auth.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "keyfile.h"
#include "log.h"
#include "room.h"

struct lc_auth {
    uint8_t key[4096]; /* tokens required when keylen > 0 */
    size_t keylen;
    unsigned skew, max_ttl;
};

lc_auth_t *lc_auth_create(const lc_config_t *cfg) {
    lc_auth_t *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->skew = cfg->jwt_skew;
    a->max_ttl = cfg->max_token_ttl_s;
    if (!cfg->jwt_key_file[0]) {
        lc_log("OPEN MODE: no --jwt-key-file, clients choose their own user and role "
               "(anyone may open a sale). For local development only.");
        return a;
    }
    if (lc_keyfile_read(cfg->jwt_key_file, a->key, sizeof(a->key), &a->keylen) != 0) {
        free(a);
        return NULL;
    }
    lc_log("tokens required: HS256, key from %s, skew %u s", cfg->jwt_key_file, cfg->jwt_skew);
    return a;
}

void lc_auth_destroy(lc_auth_t *a) {
    if (!a) return;
    OPENSSL_cleanse(a->key, sizeof(a->key));
    free(a);
}

int lc_auth_open_mode(const lc_auth_t *a) { return a->keylen == 0; }

static lc_jwt_rules_t rules_now(const lc_auth_t *a) {
    return (lc_jwt_rules_t){(int64_t)time(NULL), (int)a->skew, (int64_t)a->max_ttl};
}

static void refuse(lc_conn_t *c, lc_err_code_t code, lc_close_t close, const char *why) {
    lc_conn_send_error(c, code, "%s", why);
    lc_conn_close(c, close, lc_err_code_name(code));
}

static const char *reason(lc_jwt_result_t r) {
    switch (r) {
    case LC_JWT_EXPIRED: return "token expired";
    case LC_JWT_NOT_YET: return "token not valid yet (nbf)";
    case LC_JWT_TOO_LONG: return "token lives longer than this server accepts";
    case LC_JWT_BAD_SIGNATURE: return "token not signed by this service";
    default: return "malformed token";
    }
}

/* Why a verified token does not fit this connection's room, or NULL. */
static const char *room_mismatch(const lc_claims_t *cl, lc_str_t room) {
    if (cl->room_n && (cl->room_n != room.n || memcmp(cl->room, room.p, room.n) != 0))
        return "token is for another room";
    if (cl->role == LC_ROLE_STREAMER && !cl->room_n) return "a streamer token must name its room";
    return NULL;
}

static int hello_open(lc_conn_t *c, const lc_msg_t *m) {
    if (!lc_msg_has(m, user)) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "hello.user: missing");
        return -1;
    }
    memcpy(c->user, m->user.p, m->user.n);
    c->user[m->user.n] = '\0';
    c->ulen = (uint8_t)m->user.n;
    c->role = lc_msg_has(m, role) ? (uint8_t)lc_role_parse(m->role.p, m->role.n) : LC_ROLE_VIEWER;
    return 0;
}

int lc_auth_hello(const lc_auth_t *a, lc_conn_t *c, const lc_msg_t *m) {
    if (lc_auth_open_mode(a)) return hello_open(c, m);
    if (!lc_msg_has(m, token)) {
        refuse(c, LC_ERR_UNAUTHORIZED, LC_CLOSE_UNAUTHORIZED, "token required");
        return -1;
    }
    lc_claims_t cl;
    lc_jwt_rules_t rules = rules_now(a);
    lc_jwt_result_t r = lc_jwt_verify(a->key, a->keylen, m->token.p, m->token.n, &rules, &cl);
    const char *why = r != LC_JWT_OK ? reason(r) : room_mismatch(&cl, lc_room_name(c->room));
    if (why) {
        refuse(c, LC_ERR_UNAUTHORIZED, LC_CLOSE_UNAUTHORIZED, why);
        return -1;
    }
    /* the token wins over whatever user or role the hello claims */
    memcpy(c->user, cl.sub, cl.sub_n);
    c->user[cl.sub_n] = '\0';
    c->ulen = cl.sub_n;
    c->role = (uint8_t)cl.role;
    c->exp = cl.exp;
    return 0;
}

void lc_auth_refresh(const lc_auth_t *a, lc_conn_t *c, const lc_msg_t *m) {
    if (lc_auth_open_mode(a)) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "no tokens in open mode");
        return;
    }
    lc_claims_t cl;
    lc_jwt_rules_t rules = rules_now(a);
    lc_jwt_result_t r = lc_jwt_verify(a->key, a->keylen, m->token.p, m->token.n, &rules, &cl);
    const char *why = r != LC_JWT_OK ? reason(r)
                    : (cl.sub_n != c->ulen || memcmp(cl.sub, c->user, c->ulen) != 0) ? "token is for another user"
                    : room_mismatch(&cl, lc_room_name(c->room));
    if (why) {
        lc_conn_send_error(c, LC_ERR_UNAUTHORIZED, "refresh: %s", why);
        return;
    }
    c->exp = cl.exp;
    lc_room_set_role(c->room, c, cl.role); /* (the room counts its streamers) */
}

static void expire_one(lc_conn_t *c, void *arg) {
    const lc_auth_t *a = arg;
    if (c->exp && (int64_t)time(NULL) > c->exp + (int64_t)a->skew) {
        c->exp = 0;
        refuse(c, LC_ERR_TOKEN_EXPIRED, LC_CLOSE_REVOKED, "token expired: refresh before exp");
    }
}

void lc_auth_sweep(const lc_auth_t *a, lc_conns_t *conns) {
    if (!lc_auth_open_mode(a)) lc_conns_foreach(conns, expire_one, (void *)a);
}
