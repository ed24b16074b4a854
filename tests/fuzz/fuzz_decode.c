/* libFuzzer: the frame decoder, both formats, both directions. The first
 * byte picks format and direction. Property checked besides "no crash":
 * anything accepted re-encodes in both formats and decodes again to the
 * same type and keys. */
#include <stdlib.h>
#include <string.h>

#include "lc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1 || n > 8192) return 0;
    lc_fmt_t fmt = (lc_fmt_t)(d[0] & 1);
    lc_dir_t dir = (d[0] & 2) ? (lc_dir_t)(LC_DIR_S2C | LC_DIR_BUS) : LC_DIR_C2S;
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, fmt, dir, d + 1, n - 1, &err) != 0) {
        if (err.code == LC_ERR_NONE) abort();
        return 0;
    }
    for (int f = 0; f < LC_FMT_COUNT; f++) {
        lc_buf_t b = LC_BUF_INIT;
        if (lc_msg_encode(&m, (lc_fmt_t)f, &b) != 0) abort();
        lc_msg_t again;
        if (lc_msg_decode(&again, (lc_fmt_t)f, dir, b.p, b.len, &err) != 0) abort();
        if (again.type != m.type || memcmp(&again.has, &m.has, sizeof(m.has)) != 0) abort();
        lc_msg_clear(&again);
        lc_buf_free(&b);
    }
    lc_msg_clear(&m);
    return 0;
}
