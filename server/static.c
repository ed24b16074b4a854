/*
 * The web apps (web/) as static files on the shard's port.
 *
 * Containment. lws has already url-decoded the path and folded "/./",
 * "/../" and "//" (it decodes %xx first, so "%2e%2e" is folded too). We
 * still refuse, before touching the file system, anything that is not a
 * plain path: control bytes, backslashes, a '%' (what is left after one
 * decoding is a double-encoded path: never legitimate here) and any
 * segment starting with '.' (".." and dotfiles alike). Then the root and
 * the file are both resolved with realpath() and the file must lie under
 * root + '/': a symlink that leads out of the web root is a 404 like a
 * missing file. The final open() does not follow symlinks, and only a
 * regular file of at most STATIC_MAX bytes is served.
 *
 * Files are small (a few KiB): each request reads its file whole and
 * answers with it in one piece (lc_http_respond: lws keeps what the socket
 * did not take and sends it before it closes). GET and HEAD only; an ETag
 * (size and mtime) answers a matching If-None-Match with 304.
 */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#ifndef LC_WEB_ROOT_INSTALLED
#define LC_WEB_ROOT_INSTALLED "/usr/local/share/livecart/web"
#endif
#ifndef LC_WEB_ROOT_SOURCE
#define LC_WEB_ROOT_SOURCE "web"
#endif

#define STATIC_MAX (1024 * 1024) /* largest file served */
#define PATH_IN_MAX 512          /* longest request path considered */

typedef struct ctype {
    const char *ext, *type, *cache;
} ctype_t;

/* Pages are revalidated every time (they name the scripts); scripts and
 * styles may be reused for five minutes; images for a day. Anything else
 * in the web root is not served. */
static const ctype_t ctypes[] = {
    {"html", "text/html; charset=utf-8", "no-cache"},
    {"js", "text/javascript; charset=utf-8", "public, max-age=300"},
    {"mjs", "text/javascript; charset=utf-8", "public, max-age=300"},
    {"css", "text/css; charset=utf-8", "public, max-age=300"},
    {"json", "application/json", "no-cache"},
    {"png", "image/png", "public, max-age=86400"},
    {"svg", "image/svg+xml", "public, max-age=86400"},
    {"ico", "image/x-icon", "public, max-age=86400"},
};

static const ctype_t *ctype_of(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash)) return NULL;
    for (size_t i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++)
        if (strcmp(dot + 1, ctypes[i].ext) == 0) return &ctypes[i];
    return NULL;
}

/* 1 if PATH is a path we are willing to look up at all. */
static int path_ok(const char *path) {
    size_t n = strlen(path);
    if (n == 0 || n >= PATH_IN_MAX || path[0] != '/') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\' || ch == '%') return 0;
        if (ch == '/' && path[i + 1] == '.') return 0; /* "..", "." and dotfiles */
    }
    return 1;
}

/* The configured root, or the installed web/ if it exists, or the source
 * tree's. */
static const char *root_of(const lc_server_t *srv) {
    if (srv->cfg.web_root[0]) return srv->cfg.web_root;
    struct stat st;
    if (stat(LC_WEB_ROOT_INSTALLED, &st) == 0 && S_ISDIR(st.st_mode)) return LC_WEB_ROOT_INSTALLED;
    return LC_WEB_ROOT_SOURCE;
}

/* Opens the file for PATH under the web root. Returns an fd on a regular
 * file with its stat in *st, or -1 (not found, not allowed, too large). */
static int open_file(const lc_server_t *srv, const char *path, struct stat *st) {
    char root[PATH_MAX], want[PATH_MAX + PATH_IN_MAX + 16], real[PATH_MAX];
    if (!path_ok(path) || !realpath(root_of(srv), root)) return -1;
    size_t rn = strlen(root);
    const char *index = path[strlen(path) - 1] == '/' ? "index.html" : "";
    int n = snprintf(want, sizeof(want), "%s%s%s", root, path, index);
    if (n < 0 || (size_t)n >= sizeof(want) || !realpath(want, real)) return -1;
    if (strncmp(real, root, rn) != 0 || real[rn] != '/') return -1; /* outside the root */
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    if (st->st_size > STATIC_MAX) {
        lc_log("static: %s is over %d bytes: not served", path, STATIC_MAX);
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads exactly N bytes. Returns 0, or -1. */
static int read_all(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1; /* error, or the file shrank under us */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* 1 if the request's If-None-Match names ETAG (or is "*"). */
static int not_modified(const lc_http_req_t *q, const char *etag) {
    char inm[256];
    if (lc_http_header(q, "if-none-match", inm, sizeof(inm)) <= 0) return 0;
    return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

/* Answers with the file (or 304; lc_http sends a HEAD only the headers). */
static void send_file(lc_http_req_t *q, int fd, const struct stat *st, const ctype_t *ct) {
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec * 1000000000ull + (unsigned long long)st->st_mtim.tv_nsec);
    const lc_http_header_t hs[2] = {{"cache-control", ct->cache}, {"etag", etag}};
    if (not_modified(q, etag)) {
        lc_http_respond(q, 304, NULL, hs, 2, NULL, 0);
        return;
    }
    size_t n = (size_t)st->st_size;
    uint8_t *body = malloc(n ? n : 1);
    if (!body || read_all(fd, body, n) != 0) {
        lc_log("static: cannot read %s", lc_http_path(q));
        lc_http_text(q, 503, "cannot read the file\n");
    } else {
        lc_http_respond(q, 200, ct->type, hs, 2, body, n);
    }
    free(body);
}

int lc_static_routes(lc_server_t *srv) { return lc_http_route(srv->http, "/", lc_static_handle, srv); }

void lc_static_handle(void *arg, lc_http_req_t *q) {
    const lc_server_t *srv = arg;
    lc_http_method_t m = lc_http_method(q);
    if (m != LC_HTTP_GET && m != LC_HTTP_HEAD) {
        const lc_http_header_t allow = {"allow", "GET, HEAD"};
        lc_http_respond(q, 405, "text/plain; charset=utf-8", &allow, 1, "method not allowed\n", 19);
        return;
    }
    const char *path = lc_http_path(q);
    const ctype_t *ct = NULL;
    struct stat st;
    int fd = open_file(srv, path, &st);
    if (fd >= 0) {
        const char *last = strrchr(path, '/');
        ct = ctype_of(last && last[1] == '\0' ? "index.html" : path);
    }
    if (fd < 0 || !ct)
        lc_http_text(q, 404, "not found\n");
    else
        send_file(q, fd, &st, ct);
    if (fd >= 0) close(fd);
}
