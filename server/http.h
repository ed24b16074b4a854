/*
 * lc_http: the shard's plain HTTP side, on the same port as /live. The only
 * HTTP file that includes libwebsockets: it reads requests, writes answers,
 * and hands each request to the handler whose route matches. It knows no
 * handler: /healthz and /metrics (status.c), the publish API (api.c) and
 * the web apps (static.c) register routes at start.
 *
 * One request per connection. Every answer says "Connection: close" and the
 * connection ends after it: lws 4.1.6 spins at 100% CPU on a pipelined
 * request that carries a body (docs/DESIGN.md, "The HTTP side"). Bytes
 * after a request are never acted on; they go with the connection.
 *
 * A request's life, and what a handler must do with it:
 *
 *   the handler runs (headers read)  --> answers now       (lc_http_respond)
 *                                    --> answers later     (lc_http_defer)
 *                                    --> wants the body    (lc_http_read_body)
 *   the body fn runs (body read)     --> answers now, or answers later
 *   answered later, from any callback of the loop (a Redis reply)
 *
 * A handler or body fn that returns having done none of these gets a 500
 * for its request. The request (lc_http_req_t) belongs to lc_http: handlers
 * never free it. It stays valid until it is answered -- a handler must not
 * touch it, nor its lc_http_data, after lc_http_respond or lc_http_drop --
 * and a deferred request stays valid even when its client goes away
 * (lc_http_gone says so; answering it then just frees it).
 */
#ifndef LC_HTTP_H
#define LC_HTTP_H

#include <stddef.h>

#include "httpparse.h"
#include "server.h"

struct lws;

typedef struct lc_http_req lc_http_req_t;

typedef enum { LC_HTTP_GET, LC_HTTP_HEAD, LC_HTTP_POST, LC_HTTP_OTHER } lc_http_method_t;

/* One extra answer header: name without the colon ("allow", "etag"). */
typedef struct lc_http_header {
    const char *name, *value;
} lc_http_header_t;

/* A route's handler: runs once per request whose path matches, with the
 * route's arg. */
typedef void lc_http_handler_fn(void *arg, lc_http_req_t *q);

/* A body's continuation (lc_http_read_body): runs once, with the route's
 * arg and status 0 (the body is complete: lc_http_body), 400 (malformed
 * chunked framing) or 413 (larger than keep). It must answer (now or
 * later). The connection closes after the answer whatever it is (bytes
 * may follow the body, and lws 4.1 counts a chunked one as unfinished). */
typedef void lc_http_body_fn(void *arg, lc_http_req_t *q, unsigned status);

/* ---- set-up (main.c) ---- */

/* Creates the HTTP side with no routes. NULL when out of memory. */
lc_http_t *lc_http_create(lc_server_t *srv);

/* Frees the routes. Call it after lc_store_destroy: a request still waiting
 * for Redis lives until its callback has answered it, and that callback
 * runs (with LC_STORE_UNKNOWN) inside lc_store_destroy. */
void lc_http_destroy(lc_http_t *h);

/* Adds a route: pattern "/healthz" matches that path exactly; a pattern
 * ending in '/' ("/api/", "/") matches every path that starts with it.
 * Routes are tried in the order they were added, the first match wins, so
 * the catch-all "/" comes last. The pattern is copied (at most 63 bytes);
 * arg is passed as it is and must outlive h. A path no route matches gets
 * a plain 404. Returns 0, or -1 (too many routes, pattern too long). */
int lc_http_route(lc_http_t *h, const char *pattern, lc_http_handler_fn *fn, void *arg);

/* Requests deferred and not answered yet, those whose client left
 * included: shutdown waits until this is 0, so that nothing is posted
 * without its answer going out. */
unsigned lc_http_pending(const lc_http_t *h);

/* ---- net.c ---- */

/* net.c's lws callback calls this for LWS_CALLBACK_HTTP, _HTTP_BODY,
 * _HTTP_BODY_COMPLETION, _HTTP_WRITEABLE and _CLOSED_HTTP (reason is the
 * enum lws_callback_reasons, in and len as lws gave them) and returns what
 * it returns. slot is the address of one void * per lws session (in the
 * session's per-session data: NULL-initialised, never touched by net.c;
 * NULL if lws gave no session data). Other reasons: 0. */
int lc_http_callback(lc_http_t *h, struct lws *wsi, int reason, void **slot, void *in, size_t len);

/* ---- the request, for handlers ---- */

lc_http_method_t lc_http_method(const lc_http_req_t *q);

/* The path, url-decoded by lws, "/./", "/../" and "//" folded, no query
 * string; NUL-terminated, valid as long as q. */
const char *lc_http_path(const lc_http_req_t *q);

/* Copies the value of request header name (case-insensitive, no colon)
 * into buf, NUL-terminated. Returns its length; -1 when absent (headers lws
 * parses itself, Authorization for one, are also -1 when empty); -2 when
 * it needs more than cap - 1 bytes. The headers are readable while the
 * handler runs only (-1 afterwards): copy what the body fn or a later
 * answer needs into lc_http_data. */
int lc_http_header(const lc_http_req_t *q, const char *name, char *buf, size_t cap);

/* The handler's memory for this request: size bytes, zeroed, allocated on
 * the first call (later calls return the same block; size must not grow),
 * freed with q. NULL when out of memory. */
void *lc_http_data(lc_http_req_t *q, size_t size);

/* Asks for the request's body (in the handler only): it is read, kept up
 * to keep bytes, then fn runs. A Content-Length or Transfer-Encoding:
 * chunked body is taken (de-chunked here: lws 4.1 does not); a larger body
 * than keep is read to its end and dropped, then fn gets 413 -- unless it
 * is larger than drain (declared, or as it arrives), then it is refused at
 * once without reading it. Returns 0 (fn will run; an empty body: right
 * after the handler returns), or the status to answer now (fn will not
 * run): 411 (neither length nor chunked), 400 (another coding, both
 * framings at once, a malformed length), 413 (a declared length over
 * drain) or 503 (out of memory). After a refusal the connection closes
 * right after the answer, the body unread. */
int lc_http_read_body(lc_http_req_t *q, size_t keep, size_t drain, lc_http_body_fn *fn);

/* The body read for fn: n bytes (at most keep), NUL-terminated, valid as
 * long as q. */
const char *lc_http_body(const lc_http_req_t *q, size_t *n);

/* Writes the answer: status, content type (ignored for 304), "Cache-Control:
 * no-store" unless headers carry a cache-control, the extra headers,
 * Content-Length n (none for a 304), the body (none for a 304 or a HEAD
 * request: a HEAD's headers are the GET's). body is copied. Answers now
 * from the handler or the body fn, or later for a deferred request (then
 * from outside any lws callback: lws reads the connection again to flush
 * the answer, and closes it once it is out). Returns 0; -1 when it could
 * not be written (the connection closes) or the client was gone. Either way
 * q is finished: don't touch it again, and there is nothing left to do (a
 * failed write closes the connection by itself; the value is for tests and
 * logs). */
int lc_http_respond(lc_http_req_t *q, unsigned status, const char *ctype, const lc_http_header_t *headers,
                    size_t nheaders, const void *body, size_t n);

/* lc_http_respond with a text/plain; charset=utf-8 body, no extra header. */
int lc_http_text(lc_http_req_t *q, unsigned status, const char *body);

/* Says the answer comes later (from the handler or the body fn, typically
 * right before sending the Redis command whose callback will answer: if
 * the send fails, answering at once is still fine). Until then lws reads
 * nothing more from the connection (lws 4.1 would otherwise parse bytes
 * after the body, call BODY_COMPLETION again and close before we answer;
 * and a client's FIN cannot close it first), and lc_http_pending counts
 * the request. Returns 0, or -1 when q is not in its handler or body fn. */
int lc_http_defer(lc_http_req_t *q);

/* 1 if the client of a deferred request went away: answering it only
 * frees it. */
int lc_http_gone(const lc_http_req_t *q);

/* Ends a deferred request without an answer (its client left, or nothing
 * can be said): closes the connection if it is still open, frees q. */
void lc_http_drop(lc_http_req_t *q);

#endif
