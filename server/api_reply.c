/*
 * The publish API's answers: JSON documents and typed errors. See api_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_reply.h"
#include "metrics.h"
#include "store.h"

#define JSON_TYPE "application/json"

static const char *code_of(unsigned status) {
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 411: return "length_required";
    case 413: return "too_large";
    case 422: return "key_reused";
    case 503: return "unavailable";
    case 504: return "unknown";
    default: return "internal";
    }
}

/* Answers with {"error":CODE} (plus "message" when msg is not NULL: one of
 * our own literals, nothing to escape) and the header the status needs:
 * WWW-Authenticate for a 401, Allow (allow) for a 405. */
void lc__api_fail_with(lc_server_t *srv, lc_http_req_t *q, unsigned status, const char *msg, const char *allow) {
    char b[192];
    const char *code = code_of(status);
    int n = msg ? snprintf(b, sizeof(b), "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, msg)
                : snprintf(b, sizeof(b), "{\"error\":\"%s\"}\n", code);
    lc_http_header_t h = {"www-authenticate", "Bearer realm=\"livecart\""};
    if (allow) h = (lc_http_header_t){"allow", allow};
    lc_metrics_api(&srv->m, status);
    if (n < 0 || (size_t)n >= sizeof(b)) { /* our literals fit: never */
        lc_http_drop(q);
        return;
    }
    lc_http_respond(q, status, JSON_TYPE, &h, status == 401 || allow ? 1 : 0, b, (size_t)n);
}

void lc__api_fail(lc_server_t *srv, lc_http_req_t *q, unsigned status) { lc__api_fail_with(srv, q, status, NULL, NULL); }

/* Answers 2xx with a JSON document (taken: decref'd here); 500 when it
 * cannot be dumped (out of memory). */
void lc__api_json(lc_server_t *srv, lc_http_req_t *q, unsigned status, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        lc__api_fail(srv, q, 500);
        return;
    }
    lc_metrics_api(&srv->m, status);
    lc_http_respond(q, status, JSON_TYPE, NULL, 0, s, strlen(s));
    free(s);
}


lc_api_req_t *lc__api_answerable(lc_http_req_t *q) {
    if (lc_http_gone(q)) {
        lc_http_drop(q);
        return NULL;
    }
    return lc_http_data(q, sizeof(lc_api_req_t));
}

lc_api_req_t *lc__api_read_answer(lc_http_req_t *q, int rc, const lc_msg_t *reply, lc_msg_type_t want) {
    lc_api_req_t *r = lc__api_answerable(q);
    if (r && (rc != LC_STORE_OK || !reply || reply->type != want)) {
        r->srv->m.redis_failures++;
        lc__api_fail(r->srv, q, 503);
        return NULL;
    }
    return r;
}
