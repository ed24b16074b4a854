#include "auth.h"

#include <string.h>
#include <time.h>

#include "jwt.h"
#include "keyfile.h"
#include "log.h"
#include "room.h"

#define CLOSE_UNAUTHORIZED 4001
#define CLOSE_EXPIRED 4003

int lc_auth_init(lc_server_t *srv) {
    if (!srv->cfg.jwt_key_file[0]) {
        lc_log("OPEN MODE: no --jwt-key-file, clients choose their own user and role "
               "(anyone may open a sale). For local development only.");
        return 0;
    }
    if (lc_keyfile_read(srv->cfg.jwt_key_file, srv->jwt_key, sizeof(srv->jwt_key), &srv->jwt_keylen) != 0)
        return -1;
    lc_log("tokens required: HS256, key from %s, skew %u s", srv->cfg.jwt_key_file, srv->cfg.jwt_skew);
    return 0;
}

int lc_auth_open_mode(const lc_server_t *srv) { return srv->jwt_keylen == 0; }

static void refuse(lc_conn_t *c, lc_err_code_t code, uint16_t close, const char *why) {
    lc_conn_send_error(c, code, "%s", why);
    lc_conn_close(c, close, lc_err_code_name(code));
}

static lc_jwt_rules_t jwt_rules(const lc_server_t *srv) {
    return (lc_jwt_rules_t){(int64_t)time(NULL), (int)srv->cfg.jwt_skew, (int64_t)srv->cfg.max_token_ttl_s};
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

int lc_auth_hello(lc_conn_t *c, const lc_msg_t *m) {
    lc_server_t *srv = c->srv;
    if (lc_auth_open_mode(srv)) {
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
    if (!lc_msg_has(m, token)) {
        refuse(c, LC_ERR_UNAUTHORIZED, CLOSE_UNAUTHORIZED, "token required");
        return -1;
    }
    lc_claims_t cl;
    lc_jwt_rules_t rules = jwt_rules(srv);
    lc_jwt_result_t r = lc_jwt_verify(srv->jwt_key, srv->jwt_keylen, m->token.p, m->token.n, &rules, &cl);
    if (r != LC_JWT_OK) {
        refuse(c, LC_ERR_UNAUTHORIZED, CLOSE_UNAUTHORIZED, reason(r));
        return -1;
    }
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    if (cl.room_n && (cl.room_n != rn || memcmp(cl.room, room, rn) != 0)) {
        refuse(c, LC_ERR_UNAUTHORIZED, CLOSE_UNAUTHORIZED, "token is for another room");
        return -1;
    }
    if (cl.role == LC_ROLE_STREAMER && !cl.room_n) {
        refuse(c, LC_ERR_UNAUTHORIZED, CLOSE_UNAUTHORIZED, "a streamer token must name its room");
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

void lc_auth_refresh(lc_conn_t *c, const lc_msg_t *m) {
    lc_server_t *srv = c->srv;
    if (lc_auth_open_mode(srv)) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "no tokens in open mode");
        return;
    }
    lc_claims_t cl;
    lc_jwt_rules_t rules = jwt_rules(srv);
    lc_jwt_result_t r = lc_jwt_verify(srv->jwt_key, srv->jwt_keylen, m->token.p, m->token.n, &rules, &cl);
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    if (r != LC_JWT_OK) {
        lc_conn_send_error(c, LC_ERR_UNAUTHORIZED, "refresh: %s", reason(r));
    } else if (cl.sub_n != c->ulen || memcmp(cl.sub, c->user, c->ulen) != 0) {
        lc_conn_send_error(c, LC_ERR_UNAUTHORIZED, "refresh: token is for another user");
    } else if (cl.room_n && (cl.room_n != rn || memcmp(cl.room, room, rn) != 0)) {
        lc_conn_send_error(c, LC_ERR_UNAUTHORIZED, "refresh: token is for another room");
    } else if (cl.role == LC_ROLE_STREAMER && !cl.room_n) {
        lc_conn_send_error(c, LC_ERR_UNAUTHORIZED, "refresh: a streamer token must name its room");
    } else {
        c->exp = cl.exp;
        c->role = (uint8_t)cl.role;
    }
}

void lc_auth_sweep(lc_server_t *srv) {
    if (lc_auth_open_mode(srv)) return;
    int64_t now = (int64_t)time(NULL);
    for (lc_conn_t *c = srv->conns; c; c = c->next) {
        if (c->exp && now > c->exp + (int64_t)srv->cfg.jwt_skew) {
            c->exp = 0;
            refuse(c, LC_ERR_TOKEN_EXPIRED, CLOSE_EXPIRED, "token expired: refresh before exp");
        }
    }
}
