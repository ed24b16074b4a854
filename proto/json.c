/*
 * JSON half of the codec, on jansson. Decoding parses with jansson and hands
 * the object to the schema-driven decoder; encoding builds a jansson object
 * in schema order and dumps it compactly.
 */
#include <jansson.h>
#include <string.h>

#include "proto_int.h"

static void val_of(const json_t *j, lc__val_t *v) {
    memset(v, 0, sizeof(*v));
    switch (json_typeof(j)) {
    case JSON_STRING:
        v->kind = LC__V_STR;
        v->s = json_string_value(j);
        v->n = json_string_length(j);
        break;
    case JSON_INTEGER:
        v->kind = LC__V_INT;
        v->i = (int64_t)json_integer_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = LC__V_BOOL;
        v->i = json_is_true(j);
        break;
    case JSON_ARRAY:
        v->kind = LC__V_LIST;
        v->native = j;
        break;
    case JSON_OBJECT:
        v->kind = LC__V_MAP;
        v->native = j;
        break;
    default:
        v->kind = LC__V_OTHER;
        break;
    }
}

static const void *map_first(const void *map) { return json_object_iter((json_t *)map); }

static const void *map_next(const void *map, const void *it) {
    return json_object_iter_next((json_t *)map, (void *)it);
}

static void map_entry(const void *it, lc__val_t *key, lc__val_t *val) {
    memset(key, 0, sizeof(*key));
    key->kind = LC__V_STR;
    key->s = json_object_iter_key((void *)it);
    key->n = json_object_iter_key_len((void *)it);
    val_of(json_object_iter_value((void *)it), val);
}

static size_t list_len(const void *list) { return json_array_size((const json_t *)list); }

static void list_at(const void *list, size_t i, lc__val_t *val) {
    val_of(json_array_get((const json_t *)list, i), val);
}

static const lc__reader_t json_reader = {map_first, map_next, map_entry, list_len, list_at};

int lc__json_decode(lc_msg_t *m, lc_dir_t dir, const void *buf, size_t len, lc_proto_err_t *err) {
    json_error_t jerr;
    /* Duplicate keys are refused here too, so that no format lets a client
     * hide a second value behind the first. */
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return lc__fail(err, LC_ERR_BAD_REQUEST, "malformed JSON at byte %d", jerr.position);
    int rc;
    if (!json_is_object(root)) {
        rc = lc__fail(err, LC_ERR_BAD_REQUEST, "a message must be a JSON object");
    } else {
        lc__val_t v;
        val_of(root, &v);
        rc = lc__decode_map(&json_reader, &v, dir, LC_MSG_NONE, m, &m->arena, err, 0);
    }
    json_decref(root);
    return rc;
}

static json_t *to_json(const lc_msg_t *m);

static int set_field(json_t *o, const lc__field_desc_t *fd, const lc_msg_t *m) {
    const char *slot = (const char *)m + fd->off;
    json_t *v = NULL;
    switch (fd->kind) {
    case LC__K_STR: {
        const lc_str_t *s = (const lc_str_t *)slot;
        v = json_stringn(s->p ? s->p : "", s->n);
        break;
    }
    case LC__K_INT:
        v = json_integer((json_int_t) * (const int64_t *)slot);
        break;
    case LC__K_BOOL:
        v = json_boolean(*(const int *)slot);
        break;
    case LC__K_LIST: {
        const lc_msg_list_t *l = (const lc_msg_list_t *)slot;
        v = json_array();
        for (size_t i = 0; v && i < l->n; i++) {
            json_t *item = to_json(&l->items[i]);
            if (!item || json_array_append_new(v, item) != 0) {
                json_decref(v);
                v = NULL;
            }
        }
        break;
    }
    case LC__K_STRS: {
        const lc_strs_t *l = (const lc_strs_t *)slot;
        v = json_array();
        for (size_t i = 0; v && i < l->n; i++) {
            json_t *item = json_stringn(l->items[i].p ? l->items[i].p : "", l->items[i].n);
            if (!item || json_array_append_new(v, item) != 0) {
                json_decref(v);
                v = NULL;
            }
        }
        break;
    }
    }
    /* json_stringn returns NULL for invalid UTF-8: refuse rather than send it. */
    if (!v) return -1;
    return json_object_set_new_nocheck(o, fd->name, v);
}

static json_t *to_json(const lc_msg_t *m) {
    const lc__type_desc_t *td = &lc__types[m->type];
    json_t *o = json_object();
    if (!o || json_object_set_new_nocheck(o, "type", json_string(td->name)) != 0) goto fail;
    for (size_t i = 0; i < td->nrules; i++) {
        lc_field_t f = td->rules[i].f;
        if (!lc_fieldset_has(&m->has, f)) continue;
        if (set_field(o, &lc__fields[f], m) != 0) goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static int dump_cb(const char *p, size_t n, void *arg) { return lc_buf_append(arg, p, n); }

int lc__json_encode(const lc_msg_t *m, lc_buf_t *out) {
    json_t *o = to_json(m);
    if (!o) return -1;
    size_t before = out->len;
    /* JSON_PRESERVE_ORDER keeps schema order: "type" first, as documented. */
    int rc = json_dump_callback(o, dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc != 0) out->len = before;
    return rc == 0 ? 0 : -1;
}
