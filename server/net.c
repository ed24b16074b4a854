/*
 * The network glue: libwebsockets on the server's libuv loop (a foreign
 * loop). One callback for both subprotocols and the HTTP side; frames are
 * reassembled here and handed to the session; bytes the write path
 * (conn.c) puts together are written raw here (they are complete WebSocket
 * frames). libwebsockets keeps ordering with its own pings and close
 * frames because it sends any unsent remainder of a write before anything
 * else.
 */
#include "net.h"

#include <errno.h>
#include <libwebsockets.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "deflate.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "net_pmd.h"
#include "session.h"
#include "upgrade.h"

/* lws keeps one receive buffer of this size per connection: it was the main
 * per-connection memory cost (1 KiB), so it is small; a larger message
 * arrives in pieces and is reassembled in a buffer allocated only while one
 * arrives, as big as the frame says, up to LC_MAX_CLIENT_MSG. (128 is also
 * what a control frame's payload needs; it is safe since the closing
 * handshake: see close_step in conn.c.) */
#define RX_BUFFER 128

/* What lws keeps per connection for us. */
typedef struct pss {
    lc_conn_t *c;    /* NULL once closed */
    void *http;      /* the HTTP side's request (http.c) */
    uint8_t *rx;     /* reassembly of a message that came in pieces: rxcap bytes */
    uint16_t rxlen, rxcap;
    uint8_t counted; /* in net->alive until lws frees the wsi */
    uint8_t deflate; /* negotiated permessage-deflate (net_pmd.c) */
    uint8_t zin;     /* the message being received is compressed (RSV1 on its first frame) */
    uint8_t mid;     /* inside a frame: the last callback left payload of it to come */
} pss_t;

struct lc_net {
    lc_server_t *srv;
    struct lws_context *lws;
    struct lws_protocols protocols[3];
    lws_retry_bo_t retry;
    void *loops[1];
    unsigned alive;
    lc_inflate_t *inflate; /* --deflate: the one inflater of client messages */
    uint8_t *zbuf;         /* LC_MAX_CLIENT_MSG: what it inflates into */
};

/* ---- the transport under connections ---- */

static int io_write(void *t, const uint8_t *p, size_t n) {
    return lws_write(t, (unsigned char *)p, n, LWS_WRITE_HTTP) < 0 ? -1 : 0;
}

static int io_buffered(void *t) { return lws_partial_buffered(t); }
static void io_want_writable(void *t) { lws_callback_on_writable(t); }

/* SO_LINGER 0 makes the close an RST, so that the kernel drops what it
 * still holds for the peer at once instead of retrying it for minutes;
 * lws closes the socket on its next service without flushing its own
 * buffered bytes (a "violent" timeout close), and the connection is freed
 * through LWS_CALLBACK_CLOSED as usual. */
static void io_kill(void *t) {
    struct lws *wsi = t;
    int fd = lws_get_socket_fd(wsi);
    struct linger lg = {1, 0};
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) != 0)
        lc_log("net: SO_LINGER: %s", strerror(errno));
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    /* On a foreign libuv loop that timer is only looked at after lws's next
     * own event -- on a quiet shard, up to 30 s later: wake lws now. */
    lws_cancel_service(lws_get_context(wsi));
}

static uint32_t io_unsent(void *t) {
    int fd = lws_get_socket_fd(t), n = 0;
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) != 0 || n < 0) return UINT32_MAX;
    return (uint32_t)n;
}

const lc_conn_io_t lc_net_conn_io = {io_write, io_buffered, io_want_writable, io_kill, io_unsent};

/* ---- connection events ---- */

static int on_established(lc_server_t *srv, struct lws *wsi, pss_t *pss) {
    char room[80];
    int n = lc_upgrade_room(wsi, room, sizeof(room));
    if (n < 0) return -1; /* checked at the upgrade */
    lc_conn_t *c = lc_session_open(srv, wsi, (lc_fmt_t)lws_get_protocol(wsi)->id, room, (size_t)n);
    if (!c) return -1;
    lc_upgrade_client_ip(srv->upgrade, wsi, c->ip, sizeof(c->ip));
    lc_upgrade_count(srv->upgrade, c->ip, +1);
    /* Bound what the kernel may hold for a peer that stops reading
     * (PROTOCOL.md, "Slow and stuck readers"); the kernel doubles it. */
    int fd = lws_get_socket_fd(wsi), sb = (int)srv->cfg.sndbuf;
    if (sb && fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)) != 0)
        lc_log("net: SO_SNDBUF: %s", strerror(errno));
    c->deflate = pss->deflate;
    srv->m.deflate.conns += pss->deflate;
    pss->c = c;
    pss->counted = 1;
    srv->net->alive++;
    return 0;
}

static void on_closed(lc_server_t *srv, pss_t *pss) {
    lc_conn_t *c = pss->c;
    pss->c = NULL;
    free(pss->rx);
    pss->rx = NULL;
    pss->rxlen = pss->rxcap = 0;
    lc_upgrade_count(srv->upgrade, c->ip, -1);
    lc_session_closed(c);
}

/* A whole message: inflated first if it came compressed (PROTOCOL.md,
 * "Compression"), then to the session. */
static void deliver(lc_net_t *net, pss_t *pss, struct lws *wsi, const uint8_t *msg, size_t n) {
    lc_conn_t *c = pss->c;
    if (pss->zin) {
        size_t len = 0;
        int rc = net->inflate ? lc_inflate_msg(net->inflate, msg, n, net->zbuf, LC_MAX_CLIENT_MSG, &len) : -1;
        if (rc != 0) {
            lc_conn_send_error(c, rc > 0 ? LC_ERR_TOO_LARGE : LC_ERR_BAD_REQUEST,
                               rc > 0 ? "message over %d bytes" : "a compressed message that does not inflate",
                               LC_MAX_CLIENT_MSG);
            lc_conn_close(c, rc > 0 ? LC_CLOSE_TOO_LARGE : LC_CLOSE_BAD_DATA,
                          rc > 0 ? "message too large" : "bad compressed data");
            return;
        }
        c->srv->m.deflate.inflated++;
        msg = net->zbuf;
        n = len;
    }
    lc_session_on_frame(c, msg, n, lws_frame_is_binary(wsi));
}

/* Reads a frame's RSV bits as it starts: RSV1 on a message's first frame
 * marks it compressed; on a continuation frame it is an error (RFC 7692 6),
 * which lws 4.1 lets through once an extension is active. 0, or -1 if c is
 * being closed for it. */
static int check_rsv(pss_t *pss, struct lws *wsi, size_t remain) {
    int new_frame = !pss->mid;
    pss->mid = remain > 0; /* one frame may come in several callbacks: its RSV is the same in each */
    int rsv1 = (lws_get_reserved_bits(wsi) & 0x40) != 0;
    if (lws_is_first_fragment(wsi)) {
        pss->zin = pss->deflate && rsv1;
    } else if (new_frame && rsv1) {
        if (!lc_conn_closing(pss->c)) {
            lc_conn_send_error(pss->c, LC_ERR_BAD_REQUEST, "RSV1 on a continuation frame");
            lc_conn_close(pss->c, LC_CLOSE_PROTOCOL, "protocol error");
        }
        return -1;
    }
    return 0;
}

/* Appends a piece to the reassembly buffer: as big as the frame says (a
 * message split only by the small receive buffer needs no more), growing
 * for further fragments, up to max. 0, or -1 (out of memory: closing). */
static int append(pss_t *pss, const uint8_t *in, size_t len, size_t remain, size_t max) {
    size_t need = (size_t)pss->rxlen + len + remain;
    if (need > pss->rxcap) {
        size_t cap = pss->rxcap * 2u > need ? pss->rxcap * 2u : need;
        if (cap > max) cap = max;
        uint8_t *p = realloc(pss->rx, cap);
        if (!p) {
            lc_conn_close(pss->c, LC_CLOSE_INTERNAL, "out of memory");
            return -1;
        }
        pss->rx = p;
        pss->rxcap = (uint16_t)cap;
    }
    if (len) memcpy(pss->rx + pss->rxlen, in, len);
    pss->rxlen = (uint16_t)(pss->rxlen + len);
    return 0;
}

static void on_receive(lc_net_t *net, pss_t *pss, struct lws *wsi, const uint8_t *in, size_t len) {
    lc_conn_t *c = pss->c;
    lc_conn_alive(c);
    size_t remain = lws_remaining_packet_payload(wsi);
    if (check_rsv(pss, wsi, remain) != 0) return;
    if (lc_conn_closing(c)) { /* closing: input is ignored */
        free(pss->rx);
        pss->rx = NULL;
        pss->rxlen = pss->rxcap = 0;
        return;
    }
    int final = lws_is_final_fragment(wsi);
    /* compressed, the bound holds for what came on the wire too, with room
     * for data that compression made a few bytes longer (deliver checks
     * what it inflates to) */
    size_t wire_max = pss->zin ? LC_MAX_CLIENT_MSG + 64 : LC_MAX_CLIENT_MSG;
    if ((size_t)pss->rxlen + len + remain > wire_max) {
        lc_conn_send_error(c, LC_ERR_TOO_LARGE, "message over %d bytes", LC_MAX_CLIENT_MSG);
        lc_conn_close(c, LC_CLOSE_TOO_LARGE, "message too large");
        return;
    }
    if (!pss->rx && final) { /* the common case: the whole message at once */
        deliver(net, pss, wsi, in, len);
        return;
    }
    if (append(pss, in, len, remain, wire_max) != 0 || !final) return;
    uint8_t *msg = pss->rx;
    size_t n = pss->rxlen;
    pss->rx = NULL;
    pss->rxlen = pss->rxcap = 0;
    deliver(net, pss, wsi, msg, n);
    free(msg);
}

static int is_http(int reason) {
    return reason == LWS_CALLBACK_HTTP || reason == LWS_CALLBACK_HTTP_BODY ||
           reason == LWS_CALLBACK_HTTP_BODY_COMPLETION || reason == LWS_CALLBACK_HTTP_WRITEABLE ||
           reason == LWS_CALLBACK_CLOSED_HTTP;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    lc_server_t *srv = lws_context_user(lws_get_context(wsi));
    pss_t *pss = user;
    if (is_http((int)reason))
        return pss ? lc_http_callback(srv->http, wsi, (int)reason, &pss->http, in, len)
                   : lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return lc_upgrade_confirm(srv->upgrade, wsi);
    case LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
        return lc_pmd_confirm(wsi, in);
    case LWS_CALLBACK_ADD_HEADERS:
        if (pss && srv->cfg.deflate) {
            int n = lc_pmd_add_headers(wsi, in);
            if (n < 0) return -1;
            pss->deflate = (uint8_t)n;
            return 0;
        }
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(srv, wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        if (pss && pss->c) on_receive(srv->net, pss, wsi, in, len);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return (pss && pss->c && lc_conn_peer_closed(pss->c)) ? -1 : 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss && pss->c) lc_conn_alive(pss->c);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return (pss && pss->c) ? lc_conn_writable(pss->c) : 0;
    case LWS_CALLBACK_CLOSED:
        /* lws may still be sending the close frame: the wsi lives on until
         * LWS_CALLBACK_WSI_DESTROY, and shutdown waits for that. */
        if (pss && pss->c) on_closed(srv, pss);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (pss && pss->counted) {
            pss->counted = 0;
            srv->net->alive--;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the context ---- */

static void lws_log(int level, const char *line) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    lc_log("lws: %.*s", (int)n, line);
}

static void fill_protocols(lc_net_t *net) {
    /* Both subprotocols share one callback; the id is the lc_fmt_t. The
     * first is the default for clients that name no subprotocol: JSON. */
    static const char *const names[2] = {"livecart.json", "livecart.msgpack"};
    for (int i = 0; i < 2; i++) {
        struct lws_protocols *p = &net->protocols[i];
        p->name = names[i];
        p->callback = callback;
        p->per_session_data_size = sizeof(pss_t);
        p->rx_buffer_size = RX_BUFFER;
        p->id = (unsigned)i;
        p->tx_packet_size = 65536; /* lets one raw write carry a whole batch */
    }
}

static struct lws_context *create_context(lc_server_t *srv, lc_net_t *net) {
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = srv->cfg.port;
    info.iface = srv->cfg.bind;
    info.protocols = net->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    /* With IPv6 on, lws 4.1 maps an IPv4 address it cannot convert to the
     * any-address: binding "127.0.0.1" listened on every interface. An IPv4
     * bind therefore runs with IPv6 off (checked by test_connect.py). */
    if (!strchr(srv->cfg.bind, ':')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    net->loops[0] = srv->loop;
    info.foreign_loops = net->loops;
    info.retry_and_idle_policy = &net->retry; /* zeros: lws's own keepalive stays off (conn_sweep.c) */
    info.user = srv;
    if (srv->cfg.deflate) info.extensions = lc_pmd_extensions;
    info.timeout_secs = 10;
    info.max_http_header_data = 4096;
    if (srv->cfg.tls_cert[0]) {
        /* lws on OpenSSL terminates TLS itself: wss:// and https:// */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = srv->cfg.tls_cert;
        info.ssl_private_key_filepath = srv->cfg.tls_key;
    }
    return lws_create_context(&info);
}

lc_net_t *lc_net_start(lc_server_t *srv) {
    if (!lc_listen_port_free(srv->cfg.bind, srv->cfg.port)) return NULL;
    lc_net_t *net = calloc(1, sizeof(*net));
    if (!net) return NULL;
    net->srv = srv;
    srv->net = net; /* the callbacks find it there from the first one on */
    lws_set_log_level(getenv("LC_LWS_DEBUG") ? 0x7ff : (LLL_ERR | LLL_WARN), lws_log);
    fill_protocols(net);
    if (srv->cfg.deflate &&
        (!(net->inflate = lc_inflate_new()) || !(net->zbuf = malloc(LC_MAX_CLIENT_MSG)))) {
        lc_log("net: out of memory");
        return NULL; /* net stays on srv: lc_net_free releases it */
    }
    net->lws = create_context(srv, net);
    if (!net->lws) {
        lc_log("cannot listen on %s:%d (is the port taken?)", srv->cfg.bind, srv->cfg.port);
        return NULL; /* net stays on srv: lc_net_free releases it */
    }
    if (lc_listen_check_bound(srv->cfg.bind, srv->cfg.port) != 0) return NULL;
    return net;
}

unsigned lc_net_alive(const lc_net_t *n) { return n ? n->alive : 0; }

/* With a foreign loop, lws destroys its context in two steps: the first
 * call (inside the loop) starts closing its handles, the second (after the
 * loop has run them closed) frees the rest. */
void lc_net_stop(lc_net_t *n) {
    if (n && n->lws) lws_context_destroy(n->lws);
}

void lc_net_free(lc_net_t *n) {
    if (!n) return;
    if (n->lws) lws_context_destroy(n->lws);
    lc_inflate_free(n->inflate);
    free(n->zbuf);
    free(n); /* lws is done with the protocols */
}
