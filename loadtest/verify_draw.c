/*
 * livecart-verify-draw: checks a lucky-bag draw from the outside.
 *
 *   curl -s -H "Authorization: Bearer $KEY" \
 *        http://HOST:PORT/api/rooms/ROOM/lotteries/ID | livecart-verify-draw
 *   livecart-verify-draw answer.json
 *
 * Reads the JSON answer of GET /api/rooms/ROOM/lotteries/ID after the draw
 * (from FILE, or stdin when there is none or it is "-"), and checks with
 * OpenSSL, independently of the server's Lua SHA-256: SHA-256(seed) =
 * commit, the entrants sorted bytewise and distinct, `entries` their number,
 * min(k, n) winners, and the winners recomputed from seed and entrants
 * (PROTOCOL.md, "The draw") equal the answer's, in order. Prints one line
 * per check and a verdict. Exit status: 0 when every check holds, 1 when one
 * fails or the answer cannot be read, 2 on a bad command line.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "draw.h"

static void usage(FILE *f) {
    fprintf(f, "usage: livecart-verify-draw [-q] [FILE|-]\n"
               "  checks the answer of GET /api/rooms/ROOM/lotteries/ID (after the draw):\n"
               "  SHA-256(seed) = commit, entrants sorted and distinct, winners recomputed.\n"
               "  -q  print the verdict only\n"
               "  exit 0: verified; 1: not verified; 2: bad command line\n");
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "-q"))
            quiet = 1;
        else if (!path && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
            path = argv[i];
        else
            return usage(stderr), 2;
    }
    json_error_t jerr;
    json_t *a = !path || !strcmp(path, "-") ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                            : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!a) {
        printf("NOT VERIFIED: cannot read the answer (%s, line %d: %s)\n", path ? path : "stdin", jerr.line, jerr.text);
        return 1;
    }
    char log[8192];
    int failed = lt_draw_verify_answer(a, log, sizeof(log));
    if (!quiet) fputs(log, stdout);
    const char *id = json_string_value(json_object_get(a, "lottery"));
    size_t n = json_array_size(json_object_get(a, "entrants"));
    size_t w = json_array_size(json_object_get(a, "winners"));
    if (failed)
        printf("NOT VERIFIED: lottery %s: %d check%s failed\n", id ? id : "?", failed, failed == 1 ? "" : "s");
    else
        printf("VERIFIED: lottery %s: %zu winners drawn from %zu entrants as the committed seed decides\n",
               id ? id : "?", w, n);
    json_decref(a);
    return failed ? 1 : 0;
}
