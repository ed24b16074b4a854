/* The web apps as static files, against a temporary web root with traps
 * around it: content types and caching, index pages, ETag and 304, HEAD,
 * 405 with Allow, and containment (dot segments, dotfiles, symlinks out,
 * special files, files over 1 MiB, types not served: all 404). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lc_test.h"
#include "static.h"
#include "stub_http.h"

static lc_server_t srv;
static char base[64], www[128];

static void put(const char *rel, const char *content, size_t n) {
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(content, 1, n, f) != n) abort();
    fclose(f);
}

static void at(const char *rel, char *out, size_t cap) { snprintf(out, cap, "%s/%s", base, rel); }

/* base/secret.html outside the root; base/www the root (see the cases). */
static void make_root(void) {
    char p[512], q[512];
    snprintf(base, sizeof(base), "/tmp/lc-static-XXXXXX");
    if (!mkdtemp(base)) abort();
    snprintf(www, sizeof(www), "%s/www", base);
    const char *dirs[] = {"www", "www/sub", "www/sub/empty", NULL};
    for (int i = 0; dirs[i]; i++) {
        at(dirs[i], p, sizeof(p));
        if (mkdir(p, 0755) != 0) abort();
    }
    put("secret.html", "SECRET", 6);
    put("www/index.html", "<title>root index</title>", 25);
    put("www/app.js", "export const x = 1;\n", 20);
    put("www/mod.mjs", "export {};\n", 11);
    put("www/style.css", "body{}", 6);
    put("www/logo.png", "\x89PNG", 4);
    put("www/pic.svg", "<svg/>", 6);
    put("www/data.json", "{}", 2);
    put("www/favicon.ico", "\0\0\1\0", 4);
    put("www/sub/page.html", "<p>sub page</p>", 15);
    put("www/sub/index.html", "<p>sub index</p>", 16);
    put("www/.hidden.html", "SECRET", 6);
    put("www/notes.txt", "no type", 7);
    put("www/empty.js", "", 0);
    char *big = calloc(1, 1024 * 1024 + 1);
    put("www/big.js", big, 1024 * 1024 + 1);
    put("www/max.js", big, 1024 * 1024);
    free(big);
    at("www/fifo.js", p, sizeof(p));
    if (mkfifo(p, 0644) != 0) abort();
    const char *links[][2] = {
        {"../secret.html", "www/out.html"}, {"..", "www/outdir"}, {"sub/page.html", "www/alias.html"}};
    for (int i = 0; i < 3; i++) {
        at(links[i][1], q, sizeof(q));
        if (symlink(links[i][0], q) != 0) abort();
    }
    memset(&srv, 0, sizeof(srv));
    snprintf(srv.cfg.web_root, sizeof(srv.cfg.web_root), "%s", www);
}

static void remove_root(void) {
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
}

/* Serves one request; the caller frees it. */
static lc_http_req_t *serve(lc_http_method_t m, const char *path, const char *inm) {
    lc_http_req_t *q = stub_req_new(m, path);
    if (inm) stub_req_header(q, "If-None-Match", inm);
    stub_run(q, lc_static_handle, &srv);
    return q;
}

static unsigned status(lc_http_method_t m, const char *path) {
    lc_http_req_t *q = serve(m, path, NULL);
    unsigned st = stub_answer(q)->answers == 1 ? stub_answer(q)->status : 0;
    stub_req_free(q);
    return st;
}

static void test_types_and_caching(void) {
    static const struct {
        const char *path, *ctype, *cache, *body;
    } cases[] = {
        {"/", "text/html; charset=utf-8", "no-cache", "<title>root index</title>"},
        {"/index.html", "text/html; charset=utf-8", "no-cache", "<title>root index</title>"},
        {"/sub/", "text/html; charset=utf-8", "no-cache", "<p>sub index</p>"},
        {"/sub/page.html", "text/html; charset=utf-8", "no-cache", "<p>sub page</p>"},
        {"/alias.html", "text/html; charset=utf-8", "no-cache", "<p>sub page</p>"}, /* a link that stays inside */
        {"/app.js", "text/javascript; charset=utf-8", "public, max-age=300", "export const x = 1;\n"},
        {"/mod.mjs", "text/javascript; charset=utf-8", "public, max-age=300", "export {};\n"},
        {"/style.css", "text/css; charset=utf-8", "public, max-age=300", "body{}"},
        {"/logo.png", "image/png", "public, max-age=86400", "\x89PNG"},
        {"/pic.svg", "image/svg+xml", "public, max-age=86400", "<svg/>"},
        {"/favicon.ico", "image/x-icon", "public, max-age=86400", NULL},
        {"/data.json", "application/json", "no-cache", "{}"},
        {"/empty.js", "text/javascript; charset=utf-8", "public, max-age=300", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lc_http_req_t *q = serve(LC_HTTP_GET, cases[i].path, NULL);
        const stub_answer_t *a = stub_answer(q);
        CHECK_EQ_INT(a->status, 200);
        CHECK(strcmp(a->ctype, cases[i].ctype) == 0);
        const char *cc = stub_answer_header(q, "cache-control"), *etag = stub_answer_header(q, "etag");
        CHECK(cc && strcmp(cc, cases[i].cache) == 0);
        CHECK(etag && etag[0] == '"');
        if (cases[i].body) CHECK(a->nbody == strlen(cases[i].body) && memcmp(a->body, cases[i].body, a->nbody) == 0);
        CHECK_EQ_INT(a->content_length, (long)a->nbody);
        stub_req_free(q);
    }
    CHECK_EQ_INT(status(LC_HTTP_GET, "/max.js"), 200); /* exactly 1 MiB is still served */
}

static void test_nothing_outside_the_root_or_not_served_is_found(void) {
    const char *paths[] = {"/../secret.html", "/sub/../../secret.html", "/./index.html", "/.hidden.html",
                           "/sub/.x/page.html", "/out.html", "/outdir/secret.html",
                           "/%2e%2e/secret.html", "/..%2fsecret.html", "/..\\secret.html", "/index.html\x01",
                           "/notes.txt", "/big.js", "/fifo.js", "/missing.html", "/sub/empty/", "/sub/empty", "/sub",
                           "/index.html/", "", "index.html", "/noext", NULL};
    for (int i = 0; paths[i]; i++) {
        lc_http_req_t *q = serve(LC_HTTP_GET, paths[i], NULL);
        const stub_answer_t *a = stub_answer(q);
        CHECK_EQ_INT(a->status, 404);
        if (a->status != 404) fprintf(stderr, "  path %s\n", paths[i]);
        CHECK(strstr(a->body, "SECRET") == NULL);
        CHECK(strcmp(stub_answer_header(q, "cache-control"), "no-store") == 0);
        stub_req_free(q);
    }
    char longp[600] = "/";
    for (int i = 0; i < 290; i++) strcat(longp, "a/");
    strcat(longp, "x.html");
    CHECK_EQ_INT(status(LC_HTTP_GET, longp), 404);
    /* a link out and back in lands on a file inside the root: that one is fine */
    lc_http_req_t *q = serve(LC_HTTP_GET, "/outdir/www/index.html", NULL);
    CHECK(stub_answer(q)->status == 200 && strstr(stub_answer(q)->body, "root index"));
    stub_req_free(q);
}

static void test_conditional_get_answers_304(void) {
    lc_http_req_t *q = serve(LC_HTTP_GET, "/app.js", NULL);
    char etag[64], list[160];
    snprintf(etag, sizeof(etag), "%s", stub_answer_header(q, "etag"));
    stub_req_free(q);
    snprintf(list, sizeof(list), "\"other\", %s", etag);
    const char *match[] = {etag, list, "*", NULL};
    for (int i = 0; match[i]; i++) {
        q = serve(LC_HTTP_GET, "/app.js", match[i]);
        const stub_answer_t *a = stub_answer(q);
        CHECK_EQ_INT(a->status, 304);
        CHECK_EQ_INT(a->nbody, 0);
        CHECK_EQ_INT(a->content_length, -1);
        CHECK(strcmp(stub_answer_header(q, "etag"), etag) == 0);
        CHECK(strcmp(stub_answer_header(q, "cache-control"), "public, max-age=300") == 0);
        stub_req_free(q);
    }
    q = serve(LC_HTTP_GET, "/app.js", "\"stale\"");
    CHECK_EQ_INT(stub_answer(q)->status, 200);
    CHECK_EQ_INT(stub_answer(q)->nbody, 20);
    stub_req_free(q);
}

static void test_head_has_the_headers_of_get_and_no_body(void) {
    lc_http_req_t *q = serve(LC_HTTP_HEAD, "/app.js", NULL);
    const stub_answer_t *a = stub_answer(q);
    CHECK_EQ_INT(a->status, 200);
    CHECK_EQ_INT(a->content_length, 20);
    CHECK_EQ_INT(a->nbody, 0);
    CHECK(strcmp(a->ctype, "text/javascript; charset=utf-8") == 0);
    stub_req_free(q);
    CHECK_EQ_INT(status(LC_HTTP_HEAD, "/missing.html"), 404);
}

static void test_other_methods_are_405_with_allow(void) {
    const lc_http_method_t ms[] = {LC_HTTP_POST, LC_HTTP_OTHER};
    for (int i = 0; i < 2; i++) {
        lc_http_req_t *q = serve(ms[i], "/index.html", NULL);
        CHECK_EQ_INT(stub_answer(q)->status, 405);
        CHECK(strcmp(stub_answer_header(q, "allow"), "GET, HEAD") == 0);
        CHECK(!stub_answer(q)->asked_body); /* the body is never read: the connection closes */
        stub_req_free(q);
    }
}

static void test_a_missing_root_is_404(void) {
    char saved[sizeof(srv.cfg.web_root)];
    memcpy(saved, srv.cfg.web_root, sizeof(saved));
    snprintf(srv.cfg.web_root, sizeof(srv.cfg.web_root), "%s/does-not-exist", base);
    CHECK_EQ_INT(status(LC_HTTP_GET, "/"), 404);
    CHECK_EQ_INT(status(LC_HTTP_GET, "/index.html"), 404);
    memcpy(srv.cfg.web_root, saved, sizeof(saved));
}

static void test_the_route_is_the_catch_all(void) {
    stub_routes_reset();
    CHECK_EQ_INT(lc_static_routes(&srv), 0);
    CHECK(stub_routes() == 1 && strcmp(stub_route_pattern(0), "/") == 0 && stub_route_fn(0) == lc_static_handle);
}

int main(void) {
    make_root();
    RUN(test_types_and_caching);
    RUN(test_nothing_outside_the_root_or_not_served_is_found);
    RUN(test_conditional_get_answers_304);
    RUN(test_head_has_the_headers_of_get_and_no_body);
    RUN(test_other_methods_are_405_with_allow);
    RUN(test_a_missing_root_is_404);
    RUN(test_the_route_is_the_catch_all);
    remove_root();
    return lc_test_done();
}
