/*
 * lc_deflate: permessage-deflate (RFC 7692) for frames that are shared.
 *
 * A broadcast is compressed once per format, by the one compressor of the
 * shard, and the compressed frame is kept on the lc_frame next to the plain
 * one: every connection that negotiated the extension sends the same bytes
 * (lws's own extension would keep a ~256 KiB zlib stream per connection and
 * compress every copy again). Each message is compressed on its own -- the
 * stream is reset before each -- which is what server_no_context_takeover
 * promises, and is valid for a client that did not ask for it (a decoder
 * that keeps its window decodes a message that never refers back to it).
 * A message that would not get smaller goes plain (RSV1 clear): RFC 7692
 * lets a sender leave any message uncompressed.
 *
 * Lazily: nothing is compressed until a connection that negotiated the
 * extension writes the frame; a room without one pays nothing.
 */
#ifndef LC_DEFLATE_H
#define LC_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "metrics.h"

typedef struct lc_deflate lc_deflate_t;

/* Payloads shorter than this are not worth a try (a deflate block's own
 * overhead is ~10 bytes). */
#define LC_DEFLATE_MIN 48
/* A frame encoded for one connection (an answer, a welcome) is compressed
 * for that one connection: only from this size on, where it pays for its
 * ~10 us (a welcome with history: ~6 KiB -> 25 %). A short answer -- buy,
 * ack, error -- goes plain: compressed it would cost the hot paths a
 * compression per request for a ~17 % smaller frame
 * (loadtest/results/deflate-*.md). */
#define LC_DEFLATE_MIN_UNICAST 512

/* level: zlib's 1 (fastest) .. 9 (smallest); st: where it counts what it
 * does (the caller's, outlives z). NULL: out of memory. */
lc_deflate_t *lc_deflate_new(int level, lc_metrics_deflate_t *st);
void lc_deflate_free(lc_deflate_t *z);

/*
 * The bytes of f, format fmt, for a connection that negotiated
 * permessage-deflate: the compressed frame (made on first use and kept
 * with f until its last reference goes), or the plain one when compressing
 * does not pay or fails. *len gets their length.
 */
const uint8_t *lc_deflate_wire(lc_deflate_t *z, lc_frame_t *f, int fmt, uint32_t *len);

/*
 * Compresses one payload as a whole permessage-deflate message and frames
 * it (FIN, RSV1, opcode text or binary). Returns a malloc'd frame (the
 * caller frees) and its length in *len, or NULL when it would not be
 * smaller than the plain frame or zlib failed.
 */
uint8_t *lc_deflate_frame(lc_deflate_t *z, const uint8_t *p, size_t n, int binary, uint32_t *len);

/*
 * The other way: messages from clients. The response to every offer says
 * client_no_context_takeover (a server may, RFC 7692 7.1.1.2), so each
 * client message inflates on its own and one inflater serves the shard: no
 * zlib state is kept per connection.
 */
typedef struct lc_inflate lc_inflate_t;

lc_inflate_t *lc_inflate_new(void);
void lc_inflate_free(lc_inflate_t *z);

/* Inflates one whole compressed message (in, n: its payload as sent, tail
 * stripped) into out (cap bytes). 0 and *len; 1 if it inflates to more
 * than cap bytes; -1 if it is not valid deflate data. */
int lc_inflate_msg(lc_inflate_t *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *len);

#endif
