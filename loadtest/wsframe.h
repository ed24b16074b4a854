/*
 * lt_wsr: the lean reader's WebSocket frame walker (RFC 6455, frames from a
 * server to a client). It walks frame headers over whatever bytes one read
 * brought, keeps a header cut by the end of a read for the next one, and
 * skips payloads without touching them: a data message costs a header parse
 * and two additions. Only what someone must look at is gathered: control
 * frames (ping, pong, close; at most 125 bytes by the RFC) and, when the
 * owner asks for it with a peek buffer, data messages of at most `peek`
 * bytes (reassembled across fragments and reads).
 *
 * Framing is validated as a client must: no RSV bit (no extension is ever
 * offered), no reserved opcode, no mask (a server never masks), control
 * frames unfragmented and at most 125 bytes, a close payload of 0 or >= 2
 * bytes, continuations only inside a fragmented message and no new message
 * inside one, lengths in their shortest form and below 2^63; and, when the
 * owner sets want_op, data messages of that kind only (livecart sends text
 * on livecart.json, binary on livecart.msgpack).
 *
 * Pure: no I/O, no allocation; the unit test feeds it bytes.
 */
#ifndef LT_WSFRAME_H
#define LT_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 §5.2). */
enum { LT_WS_CONT = 0, LT_WS_TEXT = 1, LT_WS_BINARY = 2, LT_WS_CLOSE = 8, LT_WS_PING = 9, LT_WS_PONG = 10 };

/* What lt_wsr_feed returns for a framing error: the connection is broken and
 * should be closed with 1002. lt_wsr_strerror names them. */
enum {
    LT_WSR_ERSV = -1,    /* an RSV bit set */
    LT_WSR_EOPCODE = -2, /* a reserved opcode (3-7, 11-15) */
    LT_WSR_EMASK = -3,   /* a masked frame */
    LT_WSR_ECTRL = -4,   /* a control frame fragmented or over 125 bytes */
    LT_WSR_ECONT = -5,   /* a continuation outside a message, or a message inside one */
    LT_WSR_ELEN = -6,    /* a length not in its shortest form, or >= 2^63 */
    LT_WSR_ECLOSE = -7,  /* a close frame with a 1-byte payload */
    LT_WSR_EKIND = -8,   /* a data message of the other kind than want_op */
};

#define LT_WSR_CTRL_MAX 125

typedef struct lt_wsr {
    /* Data messages that ended (FIN) since the owner last zeroed these, not
     * counting the ones handed to the callback, and their payload bytes. */
    uint64_t msgs, bytes;
    uint64_t left;     /* payload bytes of the current frame still to come; 0 at a header */
    uint64_t msg_len;  /* payload bytes of the current data message so far */
    uint8_t *pbuf;     /* peek buffer (owner's, >= peek bytes), or NULL: nothing peeked */
    uint32_t peek;     /* data messages of at most this many bytes go to the callback */
    uint32_t plen;     /* bytes gathered into pbuf for the current message */
    uint8_t hdr[10], hlen; /* a header cut by the end of a read */
    uint8_t want_op;   /* LT_WS_TEXT or LT_WS_BINARY: data messages must be of that kind (0: any) */
    uint8_t rsv1_ok;   /* permessage-deflate negotiated: RSV1 may mark a data message's first frame */
    uint8_t op;        /* the current frame's opcode */
    uint8_t fin;
    uint8_t in_msg;    /* inside a fragmented data message (a continuation is due) */
    uint8_t msg_op;    /* its first frame's opcode (text or binary) */
    uint8_t msg_peek;  /* the current message is being gathered into pbuf */
    uint8_t clen;      /* bytes gathered into cbuf for the current control frame */
    uint8_t cbuf[LT_WSR_CTRL_MAX];
} lt_wsr_t;

/* Called for each complete control frame (op LT_WS_CLOSE, PING, PONG) and
 * each peeked data message (op TEXT or BINARY, the whole message); p is valid
 * during the call only. Returns 0 to go on, or anything else to stop the
 * walk at once (lt_wsr_feed returns it). The callback may read and zero
 * r->msgs and r->bytes (to report the messages counted before this one). */
typedef int (*lt_wsr_cb)(void *arg, int op, const uint8_t *p, size_t n);

/* Starts a reader. pbuf (>= peek bytes, owned by the caller, valid as long
 * as the reader is used) may be NULL with peek 0. */
void lt_wsr_init(lt_wsr_t *r, uint8_t *pbuf, uint32_t peek);

/* Walks p[0..n), the next bytes of the stream. Returns 0 when all were
 * consumed, a negative LT_WSR_E* on a framing error (the stream cannot be
 * walked further), or the callback's non-zero return (the bytes after that
 * frame were not walked). */
int lt_wsr_feed(lt_wsr_t *r, const uint8_t *p, size_t n, lt_wsr_cb cb, void *arg);

const char *lt_wsr_strerror(int err);

#endif
