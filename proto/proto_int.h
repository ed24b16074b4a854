/*
 * Internal to proto/: the schema tables, the arena, and the format-neutral
 * value view that lets one decoder serve JSON and msgpack.
 */
#ifndef LC_PROTO_INT_H
#define LC_PROTO_INT_H

#include "lc_proto.h"

typedef enum { LC__K_STR, LC__K_INT, LC__K_BOOL, LC__K_LIST, LC__K_STRS } lc__kind_t;

typedef struct lc__field_desc {
    const char *name;
    size_t name_len;
    lc__kind_t kind;
    size_t off; /* offset of the member in lc_msg_t */
} lc__field_desc_t;

extern const lc__field_desc_t lc__fields[LC_F__COUNT];

/* How a string is checked beyond its length. */
typedef enum { LC__CHK_NONE, LC__CHK_SID, LC__CHK_ONEOF, LC__CHK_IDENT } lc__check_t;

/* One key of one message type. */
typedef struct lc__rule {
    lc_field_t f;
    uint8_t dirs;     /* directions that may carry the key; others ignore it */
    uint8_t req;      /* directions that must carry it */
    int64_t min, max; /* STR: bytes; INT: value; LIST, STRS: items */
    lc__check_t check;
    const char *const *oneof; /* LC__CHK_ONEOF: NULL-terminated choices */
    lc_msg_type_t item;       /* LIST: type of each item (NONE: any) */
    uint8_t lenient;          /* LIST: an item that does not decode is dropped, not an error */
} lc__rule_t;

typedef struct lc__type_desc {
    const char *name;
    uint8_t dirs; /* directions that may send this type */
    const lc__rule_t *rules;
    size_t nrules;
} lc__type_desc_t;

extern const lc__type_desc_t lc__types[LC_MSG__COUNT];

/* Finds a type by name; LC_MSG_NONE when unknown. */
lc_msg_type_t lc__type_lookup(const char *s, size_t n);
/* Finds the rule for field f in type t; NULL if t has no such key. */
const lc__rule_t *lc__rule_find(lc_msg_type_t t, const char *key, size_t n);

/* Arena: bump allocation in chunks, freed all at once. */
struct lc_arena;
void *lc__arena_alloc(struct lc_arena **a, size_t n);
void lc__arena_free(struct lc_arena *a);

/* A decoded value, whatever the format. */
typedef enum {
    LC__V_OTHER, /* null, float, ext...: never valid for a livecart key */
    LC__V_STR,
    LC__V_INT,
    LC__V_BIGINT, /* an integer outside int64 */
    LC__V_BOOL,
    LC__V_LIST,
    LC__V_MAP
} lc__vkind_t;

typedef struct lc__val {
    lc__vkind_t kind;
    const char *s; /* STR */
    size_t n;
    int64_t i;          /* INT, BOOL */
    const void *native; /* LIST, MAP: the format's own object */
} lc__val_t;

/* Walks a format's maps and lists. */
typedef struct lc__reader {
    const void *(*map_first)(const void *map);
    const void *(*map_next)(const void *map, const void *it);
    void (*map_entry)(const void *it, lc__val_t *key, lc__val_t *val);
    size_t (*list_len)(const void *list);
    void (*list_at)(const void *list, size_t i, lc__val_t *val);
} lc__reader_t;

/*
 * Decodes a map into m, checking it against the schema. expect is the
 * required type (LC_MSG_NONE: any type allowed in dir). Strings and lists
 * are allocated in *arena. Returns 0 or -1 with err filled.
 */
int lc__decode_map(const lc__reader_t *r, const lc__val_t *map, lc_dir_t dir, lc_msg_type_t expect,
                   lc_msg_t *m, struct lc_arena **arena, lc_proto_err_t *err, int depth);

/* Sets err to code and a printf-style message; returns -1. */
int lc__fail(lc_proto_err_t *err, lc_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int lc__json_decode(lc_msg_t *m, lc_dir_t dir, const void *buf, size_t len, lc_proto_err_t *err);
int lc__json_encode(const lc_msg_t *m, lc_buf_t *out);
int lc__mp_decode(lc_msg_t *m, lc_dir_t dir, const void *buf, size_t len, lc_proto_err_t *err);
int lc__mp_encode(const lc_msg_t *m, lc_buf_t *out);

/* Checks msgpack bytes structurally before msgpack-c sees them: one value,
 * nesting at most max_depth, no container claiming more items than bytes
 * left (so a 5-byte frame cannot make the unpacker allocate gigabytes). */
int lc__mp_precheck(const uint8_t *p, size_t n, int max_depth);

#define LC__MAX_DEPTH 4

#endif
