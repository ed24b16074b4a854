/*
 * permessage-deflate as libwebsockets sees it (RFC 7692): the extension
 * lws negotiates and then leaves alone, so that the bytes stay ours.
 *
 * lws's own permessage-deflate keeps two zlib streams per connection and
 * compresses every copy of a broadcast again. Ours is registered under the
 * same name with a callback that does nothing to payloads: lws accepts the
 * offer and lets RSV1 frames through, the write path sends frames that
 * deflate.c compressed once, and net.c inflates client messages with the
 * shard's one inflater. The response's parameters are written here: always
 * server_no_context_takeover and client_no_context_takeover, the second so
 * that every client message inflates on its own.
 */
#ifndef LC_NET_PMD_H
#define LC_NET_PMD_H

#include <libwebsockets.h>

/* The extension table for lws_context_creation_info.extensions. */
extern const struct lws_extension lc_pmd_extensions[2];

/* LWS_CALLBACK_CONFIRM_EXTENSION_OKAY: 0 takes the offer, 1 declines it
 * (an offer we cannot honour: a server window under 15 bits, or
 * permessage-deflate offered twice, which lws 4.1 would answer by failing
 * the handshake). */
int lc_pmd_confirm(struct lws *wsi, const char *ext_name);

/* LWS_CALLBACK_ADD_HEADERS of an upgrade: completes the response's
 * Sec-WebSocket-Extensions line. 1: the connection negotiated it; 0: it
 * did not; -1: the response is not what lws 4.1 writes (fail the
 * handshake rather than let a client compress with context takeover). */
int lc_pmd_add_headers(struct lws *wsi, struct lws_process_html_args *args);

#endif
