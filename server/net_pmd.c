/*
 * The permessage-deflate extension lws negotiates for us. See net_pmd.h.
 */
#include "net_pmd.h"

#include <stdlib.h>
#include <string.h>

/* Options as lws parses the offer; none is echoed (OPTION_SET refuses):
 * lc_pmd_add_headers writes the response's parameters itself. */
static const struct lws_ext_options options[] = {
    {"server_no_context_takeover", EXTARG_NONE},
    {"client_no_context_takeover", EXTARG_NONE},
    {"server_max_window_bits", EXTARG_OPT_DEC},
    {"client_max_window_bits", EXTARG_OPT_DEC},
    {NULL, 0},
};

static int ext_callback(struct lws_context *context, const struct lws_extension *ext, struct lws *wsi,
                        enum lws_extension_callback_reasons reason, void *user, void *in, size_t len) {
    (void)context, (void)ext, (void)wsi, (void)user, (void)len;
    switch (reason) {
    case LWS_EXT_CB_CONSTRUCT:
        if (in) *(const struct lws_ext_options **)in = options;
        return 0;
    case LWS_EXT_CB_OPTION_SET:
    case LWS_EXT_CB_NAMED_OPTION_SET:
        return 1;
    default:
        return 0; /* payloads pass as they are: RSV1 tells net.c to inflate */
    }
}

const struct lws_extension lc_pmd_extensions[2] = {
    {"permessage-deflate", ext_callback, "permessage-deflate"},
    {NULL, NULL, NULL},
};

/* Trims spaces and tabs off [*b, *e). */
static void trim(const char **b, const char **e) {
    while (*b < *e && (**b == ' ' || **b == '\t')) (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t')) (*e)--;
}

static int is_name(const char *b, const char *e, const char *name) {
    return (size_t)(e - b) == strlen(name) && strncmp(b, name, (size_t)(e - b)) == 0;
}

/* One parameter of our offer (name[=value], value maybe quoted): 0 if we
 * can honour it (*echo_sw: it was server_max_window_bits=15, which the
 * answer must repeat, RFC 7692 7.1.2.1), -1 if not. */
static int judge_param(const char *b, const char *e, int *echo_sw) {
    trim(&b, &e);
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *ne = eq ? eq : e, *vb = eq ? eq + 1 : e, *ve = e;
    trim(&b, &ne);
    trim(&vb, &ve);
    if (ve - vb >= 2 && *vb == '"' && ve[-1] == '"') vb++, ve--;
    long v = -1;
    if (vb < ve) {
        char num[8];
        size_t n = (size_t)(ve - vb);
        if (n >= sizeof(num)) return -1;
        memcpy(num, vb, n);
        num[n] = '\0';
        char *end;
        v = strtol(num, &end, 10);
        if (*end || v < 8 || v > 15) return -1;
    }
    if (is_name(b, ne, "server_no_context_takeover") || is_name(b, ne, "client_no_context_takeover"))
        return eq ? -1 : 0;
    if (is_name(b, ne, "client_max_window_bits")) return 0; /* the client's window: any is fine */
    if (is_name(b, ne, "server_max_window_bits")) {
        if (v != 15) return -1; /* we compress once, with a 15-bit window */
        *echo_sw = 1;
        return 0;
    }
    return -1; /* a parameter we do not know: decline the offer (RFC 7692 5) */
}

/* The offers in a Sec-WebSocket-Extensions value: 0 if it holds exactly one
 * permessage-deflate offer and we can honour its parameters, else -1. */
static int judge(const char *h, int *echo_sw) {
    int found = 0;
    *echo_sw = 0;
    for (const char *p = h; *p;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *nb = p, *ne = semi ? semi : end;
        trim(&nb, &ne);
        if (is_name(nb, ne, "permessage-deflate")) {
            if (found++) return -1; /* offered twice: lws 4.1 would fail the handshake */
            for (const char *q = semi; q && q < end;) {
                const char *next = memchr(q + 1, ';', (size_t)(end - q - 1));
                if (judge_param(q + 1, next ? next : end, echo_sw) != 0) return -1;
                q = next;
            }
        }
        p = *end ? end + 1 : end;
    }
    return found ? 0 : -1;
}

static int offer_of(struct lws *wsi, char *buf, size_t cap) {
    return lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_EXTENSIONS) < 0 ? -1 : 0;
}

int lc_pmd_confirm(struct lws *wsi, const char *ext_name) {
    if (!ext_name || strcmp(ext_name, "permessage-deflate") != 0) return 1;
    char offer[256];
    int echo_sw;
    return offer_of(wsi, offer, sizeof(offer)) == 0 && judge(offer, &echo_sw) == 0 ? 0 : 1;
}

int lc_pmd_add_headers(struct lws *wsi, struct lws_process_html_args *args) {
    static const char line[] = "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n";
    static const char params[] = "; server_no_context_takeover; client_no_context_takeover";
    static const char sw[] = "; server_max_window_bits=15";
    const size_t ln = sizeof(line) - 1;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) <= 0 ||
        lws_hdr_total_length(wsi, WSI_TOKEN_EXTENSIONS) <= 0)
        return 0;
    char offer[256];
    int echo_sw = 0, took = offer_of(wsi, offer, sizeof(offer)) == 0 && judge(offer, &echo_sw) == 0;
    /* lws 4.1 has just written "Sec-WebSocket-Extensions: permessage-deflate"
     * and its CRLF when it took the offer, after at least the status line
     * and Sec-WebSocket-Accept: those bytes are before args->p */
    if (memcmp(args->p - ln, line, ln) != 0) return took ? -1 : 0; /* declined: no line, no extension */
    if (!took) return -1;
    size_t pn = sizeof(params) - 1 + (echo_sw ? sizeof(sw) - 1 : 0) + 2;
    if ((size_t)args->max_len + 2 < pn) return -1;
    args->p -= 2; /* over the CRLF */
    memcpy(args->p, params, sizeof(params) - 1);
    args->p += sizeof(params) - 1;
    if (echo_sw) {
        memcpy(args->p, sw, sizeof(sw) - 1);
        args->p += sizeof(sw) - 1;
    }
    memcpy(args->p, "\r\n", 2);
    args->p += 2;
    args->max_len -= (int)(pn - 2);
    return 1;
}
