#include "wsframe.h"

#include <string.h>

void lt_wsr_init(lt_wsr_t *r, uint8_t *pbuf, uint32_t peek) {
    memset(r, 0, sizeof(*r));
    r->pbuf = pbuf;
    r->peek = pbuf ? peek : 0;
}

const char *lt_wsr_strerror(int err) {
    switch (err) {
    case LT_WSR_ERSV: return "RSV bit set";
    case LT_WSR_EOPCODE: return "reserved opcode";
    case LT_WSR_EMASK: return "masked frame from the server";
    case LT_WSR_ECTRL: return "control frame fragmented or over 125 bytes";
    case LT_WSR_ECONT: return "continuation out of place";
    case LT_WSR_ELEN: return "length not in shortest form or too large";
    case LT_WSR_ECLOSE: return "close payload of 1 byte";
    case LT_WSR_EKIND: return "data frame of the wrong kind for the subprotocol";
    default: return "framing error";
    }
}

/* The header's length from its first two bytes: 2, 4 or 10 (a mask would
 * add 4, but a masked frame is refused before its payload matters). */
static inline size_t hdr_len(uint8_t b1) {
    uint8_t l7 = b1 & 0x7f;
    return l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
}

/* A data message ended: peeked (the callback) or counted. */
static int end_msg(lt_wsr_t *r, lt_wsr_cb cb, void *arg) {
    r->in_msg = 0;
    if (r->msg_peek) {
        r->msg_peek = 0;
        return cb ? cb(arg, r->msg_op, r->pbuf, r->plen) : 0;
    }
    r->msgs++;
    r->bytes += r->msg_len;
    return 0;
}

/* The current frame's payload is all in. */
static int end_frame(lt_wsr_t *r, lt_wsr_cb cb, void *arg) {
    if (r->op >= LT_WS_CLOSE) {
        if (r->op == LT_WS_CLOSE && r->clen == 1) return LT_WSR_ECLOSE;
        return cb ? cb(arg, r->op, r->cbuf, r->clen) : 0;
    }
    return r->fin ? end_msg(r, cb, arg) : 0;
}

/* Checks a complete header h and sets up its frame. Returns 0 or LT_WSR_E*. */
static int start_frame(lt_wsr_t *r, const uint8_t *h) {
    uint8_t b0 = h[0], b1 = h[1];
    if ((b0 & 0x70) && !(r->rsv1_ok && (b0 & 0x70) == 0x40 && ((b0 & 0x0f) == LT_WS_TEXT || (b0 & 0x0f) == LT_WS_BINARY)))
        return LT_WSR_ERSV;
    if (b1 & 0x80) return LT_WSR_EMASK;
    uint64_t len = b1 & 0x7f;
    if (len == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        if (len < 126) return LT_WSR_ELEN;
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; i++) len = len << 8 | h[i];
        if (len >> 63 || len <= 0xffff) return LT_WSR_ELEN;
    }
    uint8_t op = b0 & 0x0f, fin = b0 >> 7;
    if (op >= LT_WS_CLOSE) {
        if (op > LT_WS_PONG) return LT_WSR_EOPCODE;
        if (!fin || len > LT_WSR_CTRL_MAX) return LT_WSR_ECTRL;
        r->clen = 0;
    } else if (op == LT_WS_TEXT || op == LT_WS_BINARY) {
        if (r->in_msg) return LT_WSR_ECONT;
        if (r->want_op && op != r->want_op) return LT_WSR_EKIND;
        r->in_msg = 1;
        r->msg_op = op;
        r->msg_len = 0;
        r->plen = 0;
        r->msg_peek = r->pbuf != NULL;
    } else if (op == LT_WS_CONT) {
        if (!r->in_msg) return LT_WSR_ECONT;
    } else {
        return LT_WSR_EOPCODE;
    }
    if (op < LT_WS_CLOSE) {
        r->msg_len += len;
        if (r->msg_len > r->peek) r->msg_peek = 0; /* too big to peek: counted */
    }
    r->op = op;
    r->fin = fin;
    r->left = len;
    return 0;
}

int lt_wsr_feed(lt_wsr_t *r, const uint8_t *p, size_t n, lt_wsr_cb cb, void *arg) {
    size_t i = 0;
    int rc;
    while (i < n) {
        if (r->left == 0) { /* at a header */
            const uint8_t *h;
            if (r->hlen == 0 && n - i >= 2 && n - i >= hdr_len(p[i + 1])) {
                h = p + i; /* the common case: the whole header is in this read */
                i += hdr_len(p[i + 1]);
            } else {
                r->hdr[r->hlen++] = p[i++];
                if (r->hlen < 2 || r->hlen < hdr_len(r->hdr[1])) continue;
                h = r->hdr;
                r->hlen = 0;
            }
            if ((rc = start_frame(r, h)) != 0) return rc;
            if (r->left == 0 && (rc = end_frame(r, cb, arg)) != 0) return rc;
            continue;
        }
        size_t take = n - i < r->left ? n - i : (size_t)r->left;
        if (r->op >= LT_WS_CLOSE) {
            memcpy(r->cbuf + r->clen, p + i, take);
            r->clen = (uint8_t)(r->clen + take);
        } else if (r->msg_peek) {
            memcpy(r->pbuf + r->plen, p + i, take);
            r->plen += (uint32_t)take;
        }
        i += take;
        r->left -= take;
        if (r->left == 0 && (rc = end_frame(r, cb, arg)) != 0) return rc;
    }
    return 0;
}
