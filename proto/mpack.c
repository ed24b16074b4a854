/*
 * msgpack half of the codec, on msgpack-c. Input is first walked by a small
 * structural check (lc__mp_precheck) because msgpack-c allocates containers
 * by their declared size: without the check a 5-byte frame declaring an
 * array of 2^31 items would make it try to allocate tens of gigabytes.
 */
#include <msgpack.h>
#include <string.h>

#include "proto_int.h"

/* ---- structural pre-check ---- */

static int rd_be(const uint8_t *p, size_t n, size_t *off, size_t width, uint64_t *out) {
    if (n - *off < width) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++) v = (v << 8) | p[*off + i];
    *off += width;
    *out = v;
    return 0;
}

static int skip(const uint8_t *p, size_t n, size_t *off, uint64_t len) {
    if (n - *off < len) return -1;
    *off += (size_t)len;
    return 0;
}

static int precheck_one(const uint8_t *p, size_t n, size_t *off, int depth) {
    if (*off >= n) return -1;
    uint8_t b = p[(*off)++];
    uint64_t len = 0, items = 0;
    int container = 0; /* 1 array, 2 map */
    if (b <= 0x7f || b >= 0xe0) return 0;                           /* fixint */
    if (b >= 0x80 && b <= 0x8f) items = b & 0x0f, container = 2;    /* fixmap */
    else if (b >= 0x90 && b <= 0x9f) items = b & 0x0f, container = 1; /* fixarray */
    else if (b >= 0xa0 && b <= 0xbf) return skip(p, n, off, b & 0x1f); /* fixstr */
    else {
        switch (b) {
        case 0xc0: case 0xc2: case 0xc3: return 0;   /* nil, false, true */
        case 0xc4: case 0xd9: if (rd_be(p, n, off, 1, &len)) return -1; return skip(p, n, off, len);
        case 0xc5: case 0xda: if (rd_be(p, n, off, 2, &len)) return -1; return skip(p, n, off, len);
        case 0xc6: case 0xdb: if (rd_be(p, n, off, 4, &len)) return -1; return skip(p, n, off, len);
        case 0xc7: if (rd_be(p, n, off, 1, &len)) return -1; return skip(p, n, off, len + 1);
        case 0xc8: if (rd_be(p, n, off, 2, &len)) return -1; return skip(p, n, off, len + 1);
        case 0xc9: if (rd_be(p, n, off, 4, &len)) return -1; return skip(p, n, off, len + 1);
        case 0xca: return skip(p, n, off, 4);
        case 0xcb: return skip(p, n, off, 8);
        case 0xcc: case 0xd0: return skip(p, n, off, 1);
        case 0xcd: case 0xd1: return skip(p, n, off, 2);
        case 0xce: case 0xd2: return skip(p, n, off, 4);
        case 0xcf: case 0xd3: return skip(p, n, off, 8);
        case 0xd4: return skip(p, n, off, 2);
        case 0xd5: return skip(p, n, off, 3);
        case 0xd6: return skip(p, n, off, 5);
        case 0xd7: return skip(p, n, off, 9);
        case 0xd8: return skip(p, n, off, 17);
        case 0xdc: if (rd_be(p, n, off, 2, &items)) return -1; container = 1; break;
        case 0xdd: if (rd_be(p, n, off, 4, &items)) return -1; container = 1; break;
        case 0xde: if (rd_be(p, n, off, 2, &items)) return -1; container = 2; break;
        case 0xdf: if (rd_be(p, n, off, 4, &items)) return -1; container = 2; break;
        default: return -1; /* 0xc1 is never used */
        }
    }
    if (depth <= 0) return -1;
    if (container == 2) {
        if (items > (n - *off) / 2) return -1;
        items *= 2;
    } else if (items > n - *off) {
        return -1; /* every item takes at least one byte */
    }
    for (uint64_t i = 0; i < items; i++)
        if (precheck_one(p, n, off, depth - 1) != 0) return -1;
    return 0;
}

int lc__mp_precheck(const uint8_t *p, size_t n, int max_depth) {
    size_t off = 0;
    if (precheck_one(p, n, &off, max_depth) != 0) return -1;
    return off == n ? 0 : -1;
}

/* ---- reader over msgpack-c objects ---- */

static void val_of(const msgpack_object *o, lc__val_t *v) {
    memset(v, 0, sizeof(*v));
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        v->kind = LC__V_STR;
        v->s = o->via.str.ptr;
        v->n = o->via.str.size;
        break;
    case MSGPACK_OBJECT_BIN: /* accepted for strings: some packers emit bin */
        v->kind = LC__V_STR;
        v->s = o->via.bin.ptr;
        v->n = o->via.bin.size;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        v->kind = o->via.u64 > (uint64_t)INT64_MAX ? LC__V_BIGINT : LC__V_INT;
        v->i = (int64_t)o->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        v->kind = LC__V_INT;
        v->i = o->via.i64;
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        v->kind = LC__V_BOOL;
        v->i = o->via.boolean;
        break;
    case MSGPACK_OBJECT_ARRAY:
        v->kind = LC__V_LIST;
        v->native = o;
        break;
    case MSGPACK_OBJECT_MAP:
        v->kind = LC__V_MAP;
        v->native = o;
        break;
    default:
        v->kind = LC__V_OTHER;
        break;
    }
}

static const void *map_first(const void *map) {
    const msgpack_object *o = map;
    return o->via.map.size ? o->via.map.ptr : NULL;
}

static const void *map_next(const void *map, const void *it) {
    const msgpack_object *o = map;
    const msgpack_object_kv *kv = (const msgpack_object_kv *)it + 1;
    return kv < o->via.map.ptr + o->via.map.size ? kv : NULL;
}

static void map_entry(const void *it, lc__val_t *key, lc__val_t *val) {
    const msgpack_object_kv *kv = it;
    val_of(&kv->key, key);
    val_of(&kv->val, val);
}

static size_t list_len(const void *list) { return ((const msgpack_object *)list)->via.array.size; }

static void list_at(const void *list, size_t i, lc__val_t *val) {
    val_of(&((const msgpack_object *)list)->via.array.ptr[i], val);
}

static const lc__reader_t mp_reader = {map_first, map_next, map_entry, list_len, list_at};

int lc__mp_decode(lc_msg_t *m, lc_dir_t dir, const void *buf, size_t len, lc_proto_err_t *err) {
    if (lc__mp_precheck(buf, len, LC__MAX_DEPTH + 2) != 0)
        return lc__fail(err, LC_ERR_BAD_REQUEST, "malformed msgpack");
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc;
    msgpack_unpack_return ur = msgpack_unpack_next(&up, buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = lc__fail(err, LC_ERR_BAD_REQUEST, "malformed msgpack");
    } else if (up.data.type != MSGPACK_OBJECT_MAP) {
        rc = lc__fail(err, LC_ERR_BAD_REQUEST, "a message must be a msgpack map");
    } else {
        lc__val_t v;
        val_of(&up.data, &v);
        rc = lc__decode_map(&mp_reader, &v, dir, LC_MSG_NONE, m, &m->arena, err, 0);
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

/* ---- encoder ---- */

static int write_cb(void *data, const char *p, size_t n) { return lc_buf_append(data, p, n); }

static int pack_msg(msgpack_packer *pk, const lc_msg_t *m);

static int pack_str(msgpack_packer *pk, const char *p, size_t n) {
    if (msgpack_pack_str(pk, n) != 0) return -1;
    return msgpack_pack_str_body(pk, p, n);
}

static int pack_field(msgpack_packer *pk, const lc__field_desc_t *fd, const lc_msg_t *m) {
    const char *slot = (const char *)m + fd->off;
    if (pack_str(pk, fd->name, fd->name_len) != 0) return -1;
    switch (fd->kind) {
    case LC__K_STR: {
        const lc_str_t *s = (const lc_str_t *)slot;
        /* Same rule as JSON: never put invalid UTF-8 on the wire. */
        if (s->n && !lc_utf8_valid(s->p, s->n)) return -1;
        return pack_str(pk, s->p ? s->p : "", s->n);
    }
    case LC__K_INT:
        return msgpack_pack_int64(pk, *(const int64_t *)slot);
    case LC__K_BOOL:
        return *(const int *)slot ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case LC__K_LIST: {
        const lc_msg_list_t *l = (const lc_msg_list_t *)slot;
        if (msgpack_pack_array(pk, l->n) != 0) return -1;
        for (size_t i = 0; i < l->n; i++)
            if (pack_msg(pk, &l->items[i]) != 0) return -1;
        return 0;
    }
    case LC__K_STRS: {
        const lc_strs_t *l = (const lc_strs_t *)slot;
        if (msgpack_pack_array(pk, l->n) != 0) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (l->items[i].n && !lc_utf8_valid(l->items[i].p, l->items[i].n)) return -1;
            if (pack_str(pk, l->items[i].p ? l->items[i].p : "", l->items[i].n) != 0) return -1;
        }
        return 0;
    }
    }
    return -1;
}

static int pack_msg(msgpack_packer *pk, const lc_msg_t *m) {
    const lc__type_desc_t *td = &lc__types[m->type];
    size_t n = 1;
    for (size_t i = 0; i < td->nrules; i++)
        if (lc_fieldset_has(&m->has, td->rules[i].f)) n++;
    if (msgpack_pack_map(pk, n) != 0) return -1;
    if (pack_str(pk, "type", 4) != 0 || pack_str(pk, td->name, strlen(td->name)) != 0) return -1;
    for (size_t i = 0; i < td->nrules; i++) {
        lc_field_t f = td->rules[i].f;
        if (!lc_fieldset_has(&m->has, f)) continue;
        if (pack_field(pk, &lc__fields[f], m) != 0) return -1;
    }
    return 0;
}

int lc__mp_encode(const lc_msg_t *m, lc_buf_t *out) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, write_cb);
    size_t before = out->len;
    if (pack_msg(&pk, m) != 0) {
        out->len = before;
        return -1;
    }
    return 0;
}
