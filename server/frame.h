/*
 * lc_frame: one broadcast, encoded once per format and already framed as a
 * complete unmasked WebSocket frame (header + payload), shared by every
 * connection that sends it. Refcounted: the ring holds one reference, a
 * connection's unicast queue holds one per queued copy; the last unref frees.
 */
#ifndef LC_FRAME_H
#define LC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lc_proto.h"

typedef enum {
    LC_FRAME_OTHER = 0,   /* unicast replies, state snapshots */
    LC_FRAME_COMMENT = 1, /* an entry of the room's stream (comment, announce, product): carries its id */
} lc_frame_kind_t;

typedef struct lc_frame {
    uint32_t refs;
    uint8_t kind;
    lc_sid_t id;                    /* LC_FRAME_COMMENT: the comment's stream id */
    uint8_t control;                /* a control frame (ping): never compressed */
    uint8_t unicast;                /* encoded for one connection (lc_frame_from_msg_fmt) */
    uint32_t len[LC_FMT_COUNT];     /* bytes of data[fmt], header included */
    const uint8_t *data[LC_FMT_COUNT];
    /* permessage-deflate (deflate.c): NULL until a connection that
     * negotiated it first sends the frame; then the compressed frame
     * (owned), or data[fmt] itself when compressing did not pay */
    uint8_t *zdata[LC_FMT_COUNT];
    uint32_t zlen[LC_FMT_COUNT];
} lc_frame_t;

/* Largest WebSocket header we write (no mask from a server). */
#define LC_WS_HDR_MAX 10

/*
 * Encodes m in both formats and frames each (text for JSON, binary for
 * msgpack). scratch is a reusable buffer owned by the caller. Returns a
 * frame with one reference owned by the caller, or NULL (out of memory, or m
 * not encodable).
 */
lc_frame_t *lc_frame_from_msg(const lc_msg_t *m, lc_buf_t *scratch);

/* Same, for one format only (unicast to one connection): data[other] empty. */
lc_frame_t *lc_frame_from_msg_fmt(const lc_msg_t *m, lc_fmt_t fmt, lc_buf_t *scratch);

/* A frame already framed by the caller (a control frame such as a ping),
 * the same bytes for both formats. */
lc_frame_t *lc_frame_control(const void *framed, size_t n);

/* Frames raw payloads (for tests and callers that encoded themselves). */
lc_frame_t *lc_frame_new(const void *json, size_t jn, const void *mp, size_t mn);

static inline lc_frame_t *lc_frame_ref(lc_frame_t *f) {
    f->refs++;
    return f;
}
void lc_frame_unref(lc_frame_t *f);

/* Bytes held by the frame's payloads (both formats). */
static inline size_t lc_frame_bytes(const lc_frame_t *f) { return (size_t)f->len[0] + f->len[1]; }

/* Writes a server WebSocket frame header for a payload of n bytes ending at
 * end (the header goes right before the payload). Returns its length. */
size_t lc_ws_header(uint8_t *end, int binary, size_t n);

#endif
