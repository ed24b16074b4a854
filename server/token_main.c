/*
 * livecart-token: prints an HS256 token for a user, for tests, demos and
 * the README.
 *   livecart-token --key-file F --user U [--role viewer|streamer|moderator]
 *                  [--room R] [--ttl SECONDS]      (role: viewer, ttl: 3600)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "keyfile.h"
#include "lc_proto.h"

int main(int argc, char **argv) {
    const char *keyfile = NULL, *user = NULL, *role = "viewer", *room = NULL;
    long ttl = 3600;
    static const struct option opts[] = {{"key-file", 1, 0, 'k'}, {"user", 1, 0, 'u'},
                                         {"role", 1, 0, 'r'},     {"room", 1, 0, 'R'},
                                         {"ttl", 1, 0, 't'},      {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'k': keyfile = optarg; break;
        case 'u': user = optarg; break;
        case 'r': role = optarg; break;
        case 'R': room = optarg; break;
        case 't': {
            char *end;
            errno = 0;
            ttl = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno) ttl = LONG_MIN; /* refused below */
            break;
        }
        case 'h':
            puts("usage: livecart-token --key-file F --user U [--role viewer|streamer|moderator] "
                 "[--room R] [--ttl SECONDS]\n  role defaults to viewer, ttl to 3600; a streamer "
                 "token needs --room");
            return 0;
        default: return 2;
        }
    }
    lc_claims_t c;
    memset(&c, 0, sizeof(c));
    int r = role ? lc_role_parse(role, strlen(role)) : -1;
    if (!keyfile || !user || r < 0 || strlen(user) < 1 || strlen(user) > 64 ||
        !lc_utf8_valid(user, strlen(user)) || ttl < -86400 || ttl > 366L * 86400 ||
        (room && !lc_ident_valid(room, strlen(room)))) {
        fputs("livecart-token: need --key-file, --user (1-64 bytes), --role viewer|streamer|moderator; "
              "--room 1-64 of [A-Za-z0-9_-]; --ttl up to a year\n",
              stderr);
        return 2;
    }
    uint8_t key[4096];
    size_t keylen;
    if (lc_keyfile_read(keyfile, key, sizeof(key), &keylen) != 0) return 1;
    c.sub_n = (uint8_t)strlen(user);
    memcpy(c.sub, user, c.sub_n);
    c.role = (lc_role_t)r;
    if (room) {
        c.room_n = (uint8_t)strlen(room);
        memcpy(c.room, room, c.room_n);
    }
    c.exp = (int64_t)time(NULL) + ttl;
    char tok[LC_JWT_MAX];
    if (lc_jwt_sign(key, keylen, &c, tok, sizeof(tok)) < 0) return 1;
    puts(tok);
    return 0;
}
