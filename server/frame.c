#include "frame.h"

#include <stdlib.h>
#include <string.h>

size_t lc_ws_header(uint8_t *end, int binary, size_t n) {
    uint8_t h[LC_WS_HDR_MAX];
    size_t hl;
    h[0] = (uint8_t)(0x80 | (binary ? 0x2 : 0x1)); /* FIN + opcode */
    if (n < 126) {
        h[1] = (uint8_t)n;
        hl = 2;
    } else if (n <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(end - hl, h, hl);
    return hl;
}

/* One allocation: the struct, then each framed payload. */
static lc_frame_t *frame_alloc(const void *const payload[LC_FMT_COUNT],
                               const size_t n[LC_FMT_COUNT]) {
    size_t total = sizeof(lc_frame_t);
    for (int f = 0; f < LC_FMT_COUNT; f++)
        if (payload[f]) total += LC_WS_HDR_MAX + n[f];
    lc_frame_t *fr = malloc(total);
    if (!fr) return NULL;
    memset(fr, 0, sizeof(*fr));
    fr->refs = 1;
    uint8_t *p = (uint8_t *)(fr + 1);
    for (int f = 0; f < LC_FMT_COUNT; f++) {
        if (!payload[f]) continue;
        uint8_t *body = p + LC_WS_HDR_MAX;
        memcpy(body, payload[f], n[f]);
        size_t hl = lc_ws_header(body, f == LC_FMT_MSGPACK, n[f]);
        fr->data[f] = body - hl;
        fr->len[f] = (uint32_t)(hl + n[f]);
        p = body + n[f];
    }
    return fr;
}

lc_frame_t *lc_frame_new(const void *json, size_t jn, const void *mp, size_t mn) {
    const void *payload[LC_FMT_COUNT] = {json, mp};
    size_t n[LC_FMT_COUNT] = {jn, mn};
    return frame_alloc(payload, n);
}

static lc_frame_t *from_msg(const lc_msg_t *m, int fmt_mask, lc_buf_t *scratch) {
    /* Encode both into the scratch buffer back to back, then copy once. */
    size_t off[LC_FMT_COUNT] = {0}, n[LC_FMT_COUNT] = {0};
    lc_buf_reset(scratch);
    for (int f = 0; f < LC_FMT_COUNT; f++) {
        if (!(fmt_mask & (1 << f))) continue;
        off[f] = scratch->len;
        if (lc_msg_encode(m, (lc_fmt_t)f, scratch) != 0) return NULL;
        n[f] = scratch->len - off[f];
    }
    const void *payload[LC_FMT_COUNT];
    for (int f = 0; f < LC_FMT_COUNT; f++)
        payload[f] = (fmt_mask & (1 << f)) ? scratch->p + off[f] : NULL;
    lc_frame_t *fr = frame_alloc(payload, n);
    /* everything of the room's stream carries its id: ordering, dedupe, resume */
    if (fr && (m->type == LC_MSG_COMMENT || m->type == LC_MSG_ANNOUNCE || m->type == LC_MSG_PRODUCT) &&
        lc_msg_has(m, id)) {
        fr->kind = LC_FRAME_COMMENT;
        lc_sid_parse(&fr->id, m->id.p, m->id.n);
    }
    return fr;
}

lc_frame_t *lc_frame_from_msg(const lc_msg_t *m, lc_buf_t *scratch) {
    return from_msg(m, (1 << LC_FMT_JSON) | (1 << LC_FMT_MSGPACK), scratch);
}

lc_frame_t *lc_frame_from_msg_fmt(const lc_msg_t *m, lc_fmt_t fmt, lc_buf_t *scratch) {
    lc_frame_t *fr = from_msg(m, 1 << fmt, scratch);
    if (fr) fr->unicast = 1;
    return fr;
}

void lc_frame_unref(lc_frame_t *f) {
    if (!f || --f->refs != 0) return;
    for (int i = 0; i < LC_FMT_COUNT; i++)
        if (f->zdata[i] != f->data[i]) free(f->zdata[i]);
    free(f);
}

lc_frame_t *lc_frame_control(const void *framed, size_t n) {
    lc_frame_t *fr = malloc(sizeof(*fr) + n);
    if (!fr) return NULL;
    memset(fr, 0, sizeof(*fr));
    fr->refs = 1;
    fr->control = 1;
    uint8_t *p = (uint8_t *)(fr + 1);
    memcpy(p, framed, n);
    for (int i = 0; i < LC_FMT_COUNT; i++) {
        fr->data[i] = p;
        fr->len[i] = (uint32_t)n;
    }
    return fr;
}
