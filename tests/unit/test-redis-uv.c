/* Our hiredis libuv adapter reports a refused connect (hiredis 0.14's own
 * adapter never does: the context hangs). Needs no Redis: it connects to a
 * port nothing listens on. */
#include <hiredis/async.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lc_test.h"
#include "redis_uv.h"

static int connect_calls, connect_status = 99;

static void on_connect(const redisAsyncContext *ac, int status) {
    connect_calls++;
    connect_status = status;
}

static void on_timeout(uv_timer_t *t) { uv_stop(t->loop); }

/* A port with nothing listening: bind one, read its number, close it. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_refused_connect_calls_back_with_an_error(void) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", closed_port());
    CHECK(ac && !ac->err);
    CHECK(lc_redis_uv_attach(ac, &loop) == 0);
    redisAsyncSetConnectCallback(ac, on_connect);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_timeout, 2000, 0);
    while (connect_calls == 0 && uv_run(&loop, UV_RUN_ONCE)) {
    }
    CHECK_EQ_INT(connect_calls, 1);
    CHECK(connect_status == REDIS_ERR);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* hiredis freed the context: its poll handle closes */
    CHECK(uv_loop_close(&loop) == 0);
}

int main(void) {
    RUN(test_refused_connect_calls_back_with_an_error);
    return lc_test_done();
}
