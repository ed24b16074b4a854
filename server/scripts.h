/*
 * The Redis Lua scripts (server/scripts/NAME.lua), embedded at build time by
 * tools/embed.c in the order of lc_script_id_t (server/meson.build passes
 * them in this order).
 */
#ifndef LC_SCRIPTS_H
#define LC_SCRIPTS_H

typedef enum {
    LC_SCRIPT_COMMENT,
    LC_SCRIPT_LIKES,
    LC_SCRIPT_VIEWERS,
    LC_SCRIPT_JOIN,
    LC_SCRIPT_BUY,
    LC_SCRIPT_COMMERCE,
    LC_SCRIPT_MODERATE,
    LC_SCRIPT_POST,
    LC_SCRIPT_CHECKOUT,
    LC_SCRIPT_COUPON,
    LC_SCRIPT_LOTTERY,
    LC_SCRIPT_BOARD,
    LC_SCRIPT_STATS,
    LC_SCRIPT__COUNT
} lc_script_id_t;

/* Each script as Redis runs it: the generated encoder prelude (pack, msg:
 * see tools/embed.c), the libraries it calls (funnel.lua), then
 * server/scripts/NAME.lua. */
extern const char *const lc_script_src[LC_SCRIPT__COUNT];
/* NAME, for logs. */
extern const char *const lc_script_name[LC_SCRIPT__COUNT];

#endif
