/*
 * Format-neutral half of the codec: the schema-driven map decoder, the
 * arena that owns decoded strings, and small helpers (UTF-8, stream ids).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"

/* ---- arena ---- */

struct lc_arena {
    struct lc_arena *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *lc__arena_alloc(struct lc_arena **a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    struct lc_arena *h = *a;
    if (!h || h->cap - h->used < n) {
        /* Most client messages are small: start with 1 KiB, grow for lists. */
        size_t cap = n > 1024 ? n : 1024;
        if (h && cap < h->cap * 2) cap = h->cap * 2;
        struct lc_arena *c = malloc(sizeof(*c) + cap);
        if (!c) return NULL;
        c->next = h;
        c->used = 0;
        c->cap = cap;
        *a = h = c;
    }
    void *p = h->data + h->used;
    h->used += n;
    return p;
}

void lc__arena_free(struct lc_arena *a) {
    while (a) {
        struct lc_arena *next = a->next;
        free(a);
        a = next;
    }
}

/* ---- messages ---- */

void lc_msg_init(lc_msg_t *m, lc_msg_type_t type) {
    memset(m, 0, sizeof(*m));
    m->type = type;
}

void lc_msg_clear(lc_msg_t *m) {
    lc__arena_free(m->arena);
    lc_msg_init(m, LC_MSG_NONE);
}

lc_str_t lc_cstr(const char *s) { return lc_str(s, s ? strlen(s) : 0); }

int lc_str_eq(lc_str_t a, const char *b) {
    size_t n = strlen(b);
    return a.n == n && (n == 0 || memcmp(a.p, b, n) == 0);
}

int lc__fail(lc_proto_err_t *err, lc_err_code_t code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int lc_msg_decode(lc_msg_t *m, lc_fmt_t fmt, lc_dir_t dir, const void *buf, size_t len,
                  lc_proto_err_t *err) {
    lc_msg_init(m, LC_MSG_NONE);
    if (err) {
        err->code = LC_ERR_NONE;
        err->message[0] = '\0';
    }
    int rc = fmt == LC_FMT_JSON ? lc__json_decode(m, dir, buf, len, err)
                                : lc__mp_decode(m, dir, buf, len, err);
    if (rc != 0) lc_msg_clear(m);
    return rc;
}

int lc_msg_encode(const lc_msg_t *m, lc_fmt_t fmt, lc_buf_t *out) {
    if (m->type <= LC_MSG_NONE || m->type >= LC_MSG__COUNT) return -1;
    return fmt == LC_FMT_JSON ? lc__json_encode(m, out) : lc__mp_encode(m, out);
}

/* ---- the schema-driven decoder ---- */

static int check_str(const lc__rule_t *r, const lc__val_t *v, const char *tname,
                     const char *fname, lc_proto_err_t *err) {
    if ((int64_t)v->n < r->min || (int64_t)v->n > r->max)
        return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be %lld-%lld bytes", tname, fname,
                        (long long)r->min, (long long)r->max);
    if (memchr(v->s, '\0', v->n))
        return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: contains NUL", tname, fname);
    if (!lc_utf8_valid(v->s, v->n))
        return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: invalid UTF-8", tname, fname);
    if (r->check == LC__CHK_SID) {
        lc_sid_t id;
        if (lc_sid_parse(&id, v->s, v->n) != 0)
            return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: not an id like 1-0", tname, fname);
    } else if (r->check == LC__CHK_IDENT) {
        if (!lc_ident_valid(v->s, v->n))
            return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: 1-64 of A-Z a-z 0-9 _ -", tname, fname);
    } else if (r->check == LC__CHK_ONEOF) {
        int ok = 0;
        for (const char *const *o = r->oneof; *o && !ok; o++) ok = lc_str_eq(lc_str(v->s, v->n), *o);
        if (!ok) return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: not an allowed value", tname, fname);
    }
    return 0;
}

static int decode_list(const lc__reader_t *rd, const lc__rule_t *r, const lc__val_t *v,
                       lc_dir_t dir, lc_msg_list_t *out, struct lc_arena **arena,
                       lc_proto_err_t *err, int depth, const char *tname, const char *fname) {
    size_t n = rd->list_len(v->native);
    if ((int64_t)n < r->min || (int64_t)n > r->max)
        return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: too many items", tname, fname);
    out->n = 0;
    out->items = NULL;
    if (n == 0) return 0;
    out->items = lc__arena_alloc(arena, n * sizeof(lc_msg_t));
    if (!out->items) return lc__fail(err, LC_ERR_BAD_REQUEST, "out of memory");
    for (size_t i = 0; i < n; i++) {
        lc__val_t item;
        rd->list_at(v->native, i, &item);
        lc_msg_t *m = &out->items[out->n];
        lc_msg_init(m, LC_MSG_NONE);
        int ok = item.kind == LC__V_MAP && lc__decode_map(rd, &item, dir, r->item, m, arena, err, depth + 1) == 0;
        if (ok) {
            out->n++;
        } else if (!r->lenient) {
            return item.kind == LC__V_MAP ? -1
                                          : lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: items must be maps", tname, fname);
        }
        /* lenient: what someone else wrote into a room's stream is skipped, not fatal */
    }
    return 0;
}

/* An array of strings (user ids): each 1-64 bytes of valid UTF-8, copied. */
static int decode_strs(const lc__reader_t *rd, const lc__rule_t *r, const lc__val_t *v, lc_strs_t *out,
                       struct lc_arena **arena, lc_proto_err_t *err, const char *tname, const char *fname) {
    size_t n = rd->list_len(v->native);
    if ((int64_t)n < r->min || (int64_t)n > r->max)
        return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: too many items", tname, fname);
    out->n = 0;
    out->items = n ? lc__arena_alloc(arena, n * sizeof(lc_str_t)) : NULL;
    if (n && !out->items) return lc__fail(err, LC_ERR_BAD_REQUEST, "out of memory");
    for (size_t i = 0; i < n; i++) {
        lc__val_t item;
        rd->list_at(v->native, i, &item);
        if (item.kind != LC__V_STR || item.n < 1 || item.n > 64 || !lc_utf8_valid(item.s, item.n))
            return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: items must be strings of 1-64 bytes", tname, fname);
        char *copy = lc__arena_alloc(arena, item.n + 1);
        if (!copy) return lc__fail(err, LC_ERR_BAD_REQUEST, "out of memory");
        memcpy(copy, item.s, item.n);
        copy[item.n] = '\0';
        out->items[out->n++] = lc_str(copy, item.n);
    }
    return 0;
}

/* Echo a client's string in an error only when it is short printable ASCII:
 * the error frame must stay valid UTF-8 whatever the client sent. */
static int printable(const char *s, size_t n) {
    if (n == 0 || n > 32) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return 0;
    return 1;
}

int lc__decode_map(const lc__reader_t *rd, const lc__val_t *map, lc_dir_t dir,
                   lc_msg_type_t expect, lc_msg_t *m, struct lc_arena **arena, lc_proto_err_t *err,
                   int depth) {
    if (depth > LC__MAX_DEPTH) return lc__fail(err, LC_ERR_BAD_REQUEST, "nested too deeply");

    /* The type first: it decides which keys mean anything. */
    lc_msg_type_t t = LC_MSG_NONE;
    int seen_type = 0;
    for (const void *it = rd->map_first(map->native); it; it = rd->map_next(map->native, it)) {
        lc__val_t k, v;
        rd->map_entry(it, &k, &v);
        if (k.kind != LC__V_STR || !lc_str_eq(lc_str(k.s, k.n), "type")) continue;
        if (seen_type++) return lc__fail(err, LC_ERR_BAD_REQUEST, "duplicate key: type");
        if (v.kind != LC__V_STR) return lc__fail(err, LC_ERR_BAD_REQUEST, "type: must be a string");
        t = lc__type_lookup(v.s, v.n);
        if (t == LC_MSG_NONE || !(lc__types[t].dirs & dir))
            return lc__fail(err, LC_ERR_UNKNOWN_TYPE, "unknown type: %.*s",
                            printable(v.s, v.n) ? (int)v.n : 1, printable(v.s, v.n) ? v.s : "?");
    }
    if (!seen_type) return lc__fail(err, LC_ERR_BAD_REQUEST, "type: missing");
    if (expect != LC_MSG_NONE && t != expect)
        return lc__fail(err, LC_ERR_BAD_REQUEST, "expected a %s message", lc__types[expect].name);
    m->type = t;
    const char *tname = lc__types[t].name;

    for (const void *it = rd->map_first(map->native); it; it = rd->map_next(map->native, it)) {
        lc__val_t k, v;
        rd->map_entry(it, &k, &v);
        if (k.kind != LC__V_STR) return lc__fail(err, LC_ERR_BAD_REQUEST, "keys must be strings");
        const lc__rule_t *r = lc__rule_find(t, k.s, k.n);
        if (!r || !(r->dirs & dir)) continue; /* unknown keys are ignored: forward compatible */
        const lc__field_desc_t *fd = &lc__fields[r->f];
        if (lc_fieldset_has(&m->has, r->f)) return lc__fail(err, LC_ERR_BAD_REQUEST, "duplicate key: %s", fd->name);
        char *slot = (char *)m + fd->off;
        switch (fd->kind) {
        case LC__K_STR: {
            if (v.kind != LC__V_STR)
                return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be a string", tname, fd->name);
            if (check_str(r, &v, tname, fd->name, err) != 0) return -1;
            char *copy = lc__arena_alloc(arena, v.n + 1);
            if (!copy) return lc__fail(err, LC_ERR_BAD_REQUEST, "out of memory");
            memcpy(copy, v.s, v.n);
            copy[v.n] = '\0';
            *(lc_str_t *)slot = lc_str(copy, v.n);
            break;
        }
        case LC__K_INT:
            if (v.kind != LC__V_INT && v.kind != LC__V_BIGINT)
                return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be an integer", tname, fd->name);
            if (v.kind == LC__V_BIGINT || v.i < r->min || v.i > r->max)
                return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be %lld-%lld", tname, fd->name,
                                (long long)r->min, (long long)r->max);
            *(int64_t *)slot = v.i;
            break;
        case LC__K_BOOL:
            if (v.kind != LC__V_BOOL)
                return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be a boolean", tname, fd->name);
            *(int *)slot = (int)v.i;
            break;
        case LC__K_LIST:
            if (v.kind != LC__V_LIST)
                return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be an array", tname, fd->name);
            if (decode_list(rd, r, &v, dir, (lc_msg_list_t *)slot, arena, err, depth, tname,
                            fd->name) != 0)
                return -1;
            break;
        case LC__K_STRS:
            if (v.kind != LC__V_LIST)
                return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: must be an array", tname, fd->name);
            if (decode_strs(rd, r, &v, (lc_strs_t *)slot, arena, err, tname, fd->name) != 0) return -1;
            break;
        }
        lc_fieldset_add(&m->has, r->f);
    }

    const lc__type_desc_t *td = &lc__types[t];
    for (size_t i = 0; i < td->nrules; i++) {
        const lc__rule_t *r = &td->rules[i];
        if ((r->req & dir) && !lc_fieldset_has(&m->has, r->f))
            return lc__fail(err, LC_ERR_BAD_REQUEST, "%s.%s: missing", tname, lc__fields[r->f].name);
    }
    return 0;
}

/* ---- identifiers, UTF-8 and stream ids ---- */

int lc_ident_valid(const char *s, size_t n) {
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int lc_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

static int parse_u64(const char *s, size_t n, uint64_t *out) {
    if (n == 0 || n > 20) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int lc_sid_parse(lc_sid_t *out, const char *s, size_t n) {
    const char *dash = memchr(s, '-', n);
    if (!dash) return -1;
    size_t a = (size_t)(dash - s);
    lc_sid_t id;
    if (parse_u64(s, a, &id.ms) != 0 || parse_u64(dash + 1, n - a - 1, &id.seq) != 0) return -1;
    *out = id;
    return 0;
}

size_t lc_sid_format(lc_sid_t id, char *buf) {
    int n = snprintf(buf, 42, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
    return n < 0 ? 0 : (size_t)n;
}
