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

/* The offer's value of a parameter (name=N or name="N"); -1: absent or no value. */
static int param_value(const char *offer, const char *name) {
    const char *p = strstr(offer, name);
    if (!p) return -1;
    p += strlen(name);
    while (*p == ' ') p++;
    if (*p++ != '=') return -1;
    while (*p == ' ' || *p == '"') p++;
    return (int)strtol(p, NULL, 10);
}

int lc_pmd_confirm(struct lws *wsi, const char *ext_name) {
    if (!ext_name || strcmp(ext_name, "permessage-deflate") != 0) return 1;
    char offer[256];
    if (lws_hdr_copy(wsi, offer, sizeof(offer), WSI_TOKEN_EXTENSIONS) < 0) return 1;
    const char *first = strstr(offer, "permessage-deflate");
    if (!first || strstr(first + 1, "permessage-deflate")) return 1;
    int sw = param_value(offer, "server_max_window_bits");
    if (sw != -1 && sw < 15) return 1; /* we compress once, with a 15-bit window */
    return 0;
}

int lc_pmd_add_headers(struct lws *wsi, struct lws_process_html_args *args) {
    static const char line[] = "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n";
    static const char params[] = "; server_no_context_takeover; client_no_context_takeover\r\n";
    const size_t ln = sizeof(line) - 1, pn = sizeof(params) - 1;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) <= 0 ||
        lws_hdr_total_length(wsi, WSI_TOKEN_EXTENSIONS) <= 0)
        return 0;
    /* lws 4.1 has just written "Sec-WebSocket-Extensions: permessage-deflate"
     * and its CRLF when it took the offer, after at least the status line
     * and Sec-WebSocket-Accept: those bytes are before args->p */
    if (memcmp(args->p - ln, line, ln) != 0) {
        char offer[256];
        int n = lws_hdr_copy(wsi, offer, sizeof(offer), WSI_TOKEN_EXTENSIONS);
        /* declined (or not offered): there is no line, and no extension */
        if (n < 0 || !strstr(offer, "permessage-deflate") || lc_pmd_confirm(wsi, "permessage-deflate"))
            return 0;
        return -1;
    }
    if ((size_t)args->max_len + 2 < pn) return -1;
    args->p -= 2; /* over the CRLF */
    memcpy(args->p, params, pn);
    args->p += pn;
    args->max_len -= (int)(pn - 2);
    return 1;
}
