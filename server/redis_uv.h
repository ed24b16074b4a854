/*
 * Attaches a hiredis async context to a libuv loop.
 *
 * Why not hiredis's own adapters/libuv.h: in hiredis 0.14 its poll callback
 * returns early when libuv reports an error status, and libuv reports a
 * failed non-blocking connect (POLLERR) exactly that way. A refused connect
 * then never calls the connect callback and the context hangs forever
 * (checked: tests/unit/test-redis-uv.c). This adapter hands errors to hiredis
 * as readiness, so hiredis reads the socket error and fails the context.
 */
#ifndef LC_REDIS_UV_H
#define LC_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Returns 0, or -1 (out of memory, or uv_poll_init failed). */
int lc_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
