/*
 * permessage-deflate, one compressor per shard. See deflate.h.
 */
#include "deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct lc_deflate {
    z_stream s;
    uint8_t *out; /* scratch: LC_WS_HDR_MAX + the bound of the largest message so far */
    size_t cap;
    lc_metrics_deflate_t *st;
};

lc_deflate_t *lc_deflate_new(int level, lc_metrics_deflate_t *st) {
    lc_deflate_t *z = calloc(1, sizeof(*z));
    if (!z) return NULL;
    z->st = st;
    /* raw deflate (negative window bits: no zlib header), a 32 KiB window:
     * any client may decode it, and the one stream costs ~256 KiB once */
    if (deflateInit2(&z->s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void lc_deflate_free(lc_deflate_t *z) {
    if (!z) return;
    (void)deflateEnd(&z->s);
    free(z->out);
    free(z);
}

static int reserve(lc_deflate_t *z, size_t need) {
    if (need <= z->cap) return 0;
    uint8_t *p = realloc(z->out, need);
    if (!p) return -1;
    z->out = p;
    z->cap = need;
    return 0;
}

/* The header length of a plain frame carrying n bytes. */
static size_t header_len(size_t n) { return n < 126 ? 2 : n <= 0xffff ? 4 : 10; }

uint8_t *lc_deflate_frame(lc_deflate_t *z, const uint8_t *p, size_t n, int binary, uint32_t *len) {
    if (n < LC_DEFLATE_MIN || n > UINT32_MAX / 2) {
        z->st->plain++;
        return NULL;
    }
    /* a sync flush adds an empty stored block (00 00 ff ff) and up to a
     * byte to close the last one: room for both on top of the bound */
    size_t bound = deflateBound(&z->s, (uLong)n) + 16;
    if (reserve(z, LC_WS_HDR_MAX + bound) != 0 || deflateReset(&z->s) != Z_OK) return NULL;
    z->s.next_in = (Bytef *)p;
    z->s.avail_in = (uInt)n;
    z->s.next_out = z->out + LC_WS_HDR_MAX;
    z->s.avail_out = (uInt)bound;
    int rc = deflate(&z->s, Z_SYNC_FLUSH);
    size_t got = bound - z->s.avail_out;
    uint8_t *body = z->out + LC_WS_HDR_MAX;
    /* all input taken, room left (so the flush is complete), and the
     * flush's tail, which RFC 7692 has the sender strip */
    if (rc != Z_OK || z->s.avail_in != 0 || z->s.avail_out == 0 || got < 4 ||
        memcmp(body + got - 4, "\x00\x00\xff\xff", 4) != 0)
        return NULL;
    got -= 4;
    if (header_len(got) + got >= header_len(n) + n) {
        z->st->plain++;
        return NULL;
    }
    size_t hl = lc_ws_header(body, binary, got);
    body[-(ptrdiff_t)hl] |= 0x40; /* RSV1: this message is compressed */
    uint8_t *fr = malloc(hl + got);
    if (!fr) return NULL;
    memcpy(fr, body - hl, hl + got);
    *len = (uint32_t)(hl + got);
    z->st->frames++;
    z->st->bytes_in += n;
    z->st->bytes_out += got;
    return fr;
}

const uint8_t *lc_deflate_wire(lc_deflate_t *z, lc_frame_t *f, int fmt, uint32_t *len) {
    const uint8_t *plain = f->data[fmt];
    if (!f->zdata[fmt]) {
        uint8_t *zf = NULL;
        uint32_t zn = 0;
        int tried = 0;
        if (!f->control && plain && (!f->unicast || f->len[fmt] >= LC_DEFLATE_MIN_UNICAST)) {
            tried = 1;
            uint8_t l7 = plain[1] & 0x7f; /* a server frame: no mask */
            size_t hl = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
            zf = lc_deflate_frame(z, plain + hl, f->len[fmt] - hl, (plain[0] & 0x0f) == 0x2, &zn);
        }
        if (zf) {
            f->zdata[fmt] = zf;
            f->zlen[fmt] = zn;
        } else { /* plain it stays: not tried again */
            if (!tried) z->st->plain++;
            f->zdata[fmt] = (uint8_t *)plain;
            f->zlen[fmt] = f->len[fmt];
        }
    }
    *len = f->zlen[fmt];
    return f->zdata[fmt];
}

/* ---- inflating client messages ---- */

struct lc_inflate {
    z_stream s;
};

lc_inflate_t *lc_inflate_new(void) {
    lc_inflate_t *z = calloc(1, sizeof(*z));
    if (!z) return NULL;
    if (inflateInit2(&z->s, -15) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void lc_inflate_free(lc_inflate_t *z) {
    if (!z) return;
    (void)inflateEnd(&z->s);
    free(z);
}

int lc_inflate_msg(lc_inflate_t *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len) {
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff}; /* the sender stripped it */
    uint8_t spare;
    if (inflateReset(&z->s) != Z_OK) return -1;
    z->s.next_out = out;
    z->s.avail_out = (uInt)cap;
    for (int part = 0; part < 2; part++) {
        z->s.next_in = (Bytef *)(part ? tail : in);
        z->s.avail_in = (uInt)(part ? sizeof(tail) : n);
        while (z->s.avail_in) {
            int rc = inflate(&z->s, Z_SYNC_FLUSH);
            if (rc == Z_STREAM_END) break; /* a final block: what follows is ignored */
            if (rc == Z_BUF_ERROR && z->s.avail_out == 0) return 1;
            if (rc != Z_OK) return -1;
            if (z->s.avail_out == 0 && z->s.avail_in) return 1;
        }
    }
    size_t got = cap - z->s.avail_out;
    /* output may end exactly at cap with more pending: one byte more tells */
    if (z->s.avail_out == 0) {
        z->s.next_out = &spare;
        z->s.avail_out = 1;
        int rc = inflate(&z->s, Z_SYNC_FLUSH);
        if ((rc == Z_OK || rc == Z_STREAM_END) && z->s.avail_out == 0) return 1;
    }
    *len = got;
    return 0;
}
