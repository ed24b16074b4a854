/*
 * Build-time tool: turns the Lua scripts into C string constants, so the
 * server binary carries them (nothing to install beside it), and puts in
 * front of each script the one encoder its messages go through.
 *
 *   embed OUT.c [lib:NAME=FILE...] NAME=FILE...
 *                              writes lc_script_src[] and lc_script_name[]
 *                              in argument order (see scripts.h)
 *   embed --lua FILE [lib:NAME=FILE...]
 *                              prints one script as Redis runs it (prelude
 *                              and libraries included), e.g. for redis-cli
 *                              SCRIPT LOAD
 *
 * THE ENCODER. Every message a script publishes or answers is built with
 *
 *     pack(t, m)  -- checks m, sets m.type = t, returns cmsgpack.pack(m)
 *     msg(t, m)   -- the same check, returns m: for the items of a list
 *                    (team_done's members, join's history), packed with it
 *
 * Both raise a Lua error when m has a key that the schema (proto/schema.c)
 * does not give type t in the S2C or BUS direction, or lacks a key the
 * schema requires of t in one of them. Such an error is a programming bug in
 * a script, caught by the unit tests (tests/unit/test-store.c runs every
 * script against Redis), never a runtime condition: it aborts the script
 * where it stands (Redis does not roll back the writes before it). Values
 * are not checked here: the reader decodes the message with the schema,
 * which checks every value (and drops the items of a lenient list that do
 * not decode, such as a stream entry someone else wrote).
 *
 * The prelude is generated from the schema tables linked into this tool
 * (lc__types, lc__fields), so the scripts and the C decoder agree by
 * construction. A type the schema lacks, or that is no server or bus
 * message, fails the build. The prelude runs on every call, and the buy
 * script is the hot path, so it is kept small and cheap:
 *   - it covers only the types the script names in pack('NAME' or
 *     msg('NAME' calls (outside comments and strings);
 *   - each type is one branch of comparisons against constant (interned)
 *     strings: no table is built per call (Redis keeps no Lua state between
 *     calls, so any table would be);
 *   - without msg() calls the checker is pack itself: one closure and one
 *     Lua call per message.
 * Measured on the buy answer (a shared 2-core box under load): about 2 us
 * per call over the former array reply, most of it cmsgpack.pack itself;
 * the check and its closure are 0.5-1 us.
 *
 * The prelude is 12 lines (14 with msg) plus 3 per type, so a Lua error's
 * line number is the script's own plus that; its last line is
 * "-- end of prelude".
 *
 * LIBRARIES. An argument lib:NAME=FILE is no script of its own: FILE's Lua
 * (local functions named NAME_...) is put after the prelude of every script
 * that calls one of them, so that several scripts share one definition
 * (funnel.lua: the figures every event script keeps). Its pack() and msg()
 * calls count as the script's; its lines come before the script's own.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream, also when built without the project's flags */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"

#define OUT_DIRS (LC_DIR_S2C | LC_DIR_BUS)
#define MAX_SCRIPT (1 << 20)

/* Reads a whole file into a NUL-terminated buffer; NULL on error. */
static char *slurp(const char *path) {
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return NULL;
    }
    char *buf = malloc(MAX_SCRIPT + 1);
    size_t n = buf ? fread(buf, 1, MAX_SCRIPT + 1, in) : 0;
    int bad = !buf || ferror(in) || n > MAX_SCRIPT;
    fclose(in);
    if (bad) {
        fprintf(stderr, "%s: cannot read (or larger than %d bytes)\n", path, MAX_SCRIPT);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int is_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* What a script calls: the types it packs, and whether it uses msg(). */
typedef struct uses {
    int type[LC_MSG__COUNT];
    int msg;
} uses_t;

/* If p starts a call `pack('NAME'` or `msg('NAME'`, notes it in u.
 * Returns -1 for a name the schema does not know. */
static int note_call(const char *src, const char *p, uses_t *u, const char *path) {
    size_t w = strncmp(p, "pack", 4) == 0 ? 4 : strncmp(p, "msg", 3) == 0 ? 3 : 0;
    if (!w || (p > src && (is_ident(p[-1]) || p[-1] == '.' || p[-1] == ':')) || is_ident(p[w])) return 0;
    const char *q = p + w;
    while (*q == ' ') q++;
    if (*q++ != '(') return 0;
    while (*q == ' ') q++;
    if (*q != '\'' && *q != '"') return 0;
    char quote = *q++;
    const char *end = strchr(q, quote);
    if (!end) return 0;
    lc_msg_type_t t = lc__type_lookup(q, (size_t)(end - q));
    if (t == LC_MSG_NONE || !(lc__types[t].dirs & OUT_DIRS)) {
        fprintf(stderr, "%s: %.*s('%.*s', ...): no such server or bus message in proto/schema.c\n", path,
                (int)w, p, (int)(end - q), q);
        return -1;
    }
    u->type[t] = 1;
    u->msg |= w == 3;
    return 0;
}

/* Finds the types a script packs, skipping comments and string literals. */
static int scan(const char *src, uses_t *u, const char *path) {
    for (const char *p = src; *p;) {
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (*p == '\'' || *p == '"') {
            char quote = *p++;
            while (*p && *p != quote && *p != '\n') p += (*p == '\\' && p[1]) ? 2 : 1;
            if (*p == quote) p++;
        } else {
            if (note_call(src, p, u, path) != 0) return -1;
            p++;
        }
    }
    return 0;
}

/* How emit_keys writes each key. */
typedef enum { K_NOT_ALLOWED, K_MISSING, K_NAMES } keys_as_t;

/* The keys of t that a server or bus message may carry (K_NOT_ALLOWED), or
 * only the required ones (K_MISSING, K_NAMES), as a Lua expression. */
static void emit_keys(FILE *out, lc_msg_type_t t, keys_as_t as) {
    static const char *const sep[] = {" and ", " or ", ", "};
    const lc__type_desc_t *td = &lc__types[t];
    int first = 1;
    for (size_t i = 0; i < td->nrules; i++) {
        const lc__rule_t *r = &td->rules[i];
        if (!(r->dirs & OUT_DIRS) || (as != K_NOT_ALLOWED && !(r->req & OUT_DIRS))) continue;
        const char *name = lc__fields[r->f].name;
        fputs(first ? "" : sep[as], out);
        if (as == K_NOT_ALLOWED)
            fprintf(out, "f ~= '%s'", name);
        else if (as == K_MISSING)
            fprintf(out, "m.%s == nil", name);
        else
            fputs(name, out);
        first = 0;
    }
    if (first && as != K_NAMES) fputs(as == K_NOT_ALLOWED ? "true" : "false", out); /* no keys */
}

/* One branch of msg, 3 lines per type: comparisons of interned strings, and
 * no table built per call (a table of the keys per call cost more than the
 * whole check: measured). */
static void emit_type(FILE *out, lc_msg_type_t t, int first) {
    fprintf(out, "  %s t == '%s' then\n    for f in next, m do if ", first ? "if" : "elseif", lc__types[t].name);
    emit_keys(out, t, K_NOT_ALLOWED);
    fputs(" then bad = f end end\n    if ", out);
    emit_keys(out, t, K_MISSING);
    fputs(" then missing = '", out);
    emit_keys(out, t, K_NAMES);
    fputs("' end\n", out);
}

/* The part of the checker after the types' branches. */
static const char check_tail[] =
    "    error('pack: type ' .. tostring(t) .. ' is not in the prelude')\n"
    "  end\n"
    "  if bad then error('pack: ' .. t .. ' has no key ' .. tostring(bad)) end\n"
    "  if missing then error('pack: ' .. t .. ' needs ' .. missing) end\n"
    "  m.type = t\n";

/* Writes the prelude for a script into out (a memory stream). The checker
 * is pack itself when the script packs no list items, so that a call makes
 * one closure and one Lua call (the buy script); else it is msg, and pack
 * wraps it. */
static void emit_prelude(FILE *out, const uses_t *u) {
    fprintf(out, "-- prelude generated by tools/embed.c from proto/schema.c: %s\n"
                 "local function %s(t, m)\n"
                 "  local bad, missing\n",
            u->msg ? "pack(t, m), msg(t, m)" : "pack(t, m)", u->msg ? "msg" : "pack");
    int first = 1;
    for (int t = 1; t < LC_MSG__COUNT; t++) {
        if (!u->type[t]) continue;
        emit_type(out, (lc_msg_type_t)t, first);
        first = 0;
    }
    fputs(first ? "  do\n" : "  else\n", out);
    fputs(check_tail, out);
    if (u->msg)
        fputs("  return m\nend\nlocal function pack(t, m) return cmsgpack.pack(msg(t, m)) end\n", out);
    else
        fputs("  return cmsgpack.pack(m)\nend\n", out);
    fputs("-- end of prelude\n", out);
}

/* A library (lib:NAME=FILE): its functions' prefix "NAME_" and its source. */
typedef struct lib {
    char prefix[64];
    const char *path;
    char *src;
} lib_t;

#define MAX_LIBS 8

/* Does src call a function whose name starts with prefix (as a whole
 * identifier's start)? Comments and strings are not skipped: a mention in
 * a comment only costs the library's definition. */
static int calls(const char *src, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *p = strstr(src, prefix); p; p = strstr(p + 1, prefix))
        if ((p == src || !is_ident(p[-1])) && p[n] && is_ident(p[n])) return 1;
    return 0;
}

/* The script as Redis runs it: prelude + the libraries it calls + source.
 * Caller frees. */
static char *full_script(const char *path, const lib_t *libs, int nlibs) {
    char *src = slurp(path);
    if (!src) return NULL;
    uses_t u = {{0}, 0};
    int use[MAX_LIBS] = {0};
    int bad = scan(src, &u, path) != 0;
    for (int i = 0; !bad && i < nlibs; i++)
        if ((use[i] = calls(src, libs[i].prefix))) bad = scan(libs[i].src, &u, libs[i].path) != 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = bad ? NULL : open_memstream(&buf, &len);
    if (!mem) {
        free(src);
        return NULL;
    }
    emit_prelude(mem, &u);
    for (int i = 0; i < nlibs; i++)
        if (use[i]) fputs(libs[i].src, mem);
    fputs(src, mem);
    free(src);
    if (fclose(mem) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Writes s as the body of a C string literal. */
static void emit_c_string(FILE *out, const char *s) {
    fputs("    \"", out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            fputs(p[1] ? "\\n\"\n    \"" : "\\n", out);
        else if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\%03o", *p);
        else
            fputc(*p, out);
    }
    fputs("\",\n", out);
}

/* Takes the lib:NAME=FILE arguments out of specs (compacting it) into libs.
 * Returns how many scripts are left, or -1 on error. */
static int take_libs(int n, char **specs, lib_t *libs, int *nlibs) {
    int kept = 0;
    *nlibs = 0;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(specs[i], '=');
        if (strncmp(specs[i], "lib:", 4) != 0 || !eq) {
            specs[kept++] = specs[i];
            continue;
        }
        size_t nl = (size_t)(eq - specs[i] - 4);
        if (*nlibs == MAX_LIBS || nl == 0 || nl + 2 > sizeof(libs[0].prefix)) {
            fprintf(stderr, "%s: too many libraries, or a bad name\n", specs[i]);
            return -1;
        }
        lib_t *l = &libs[(*nlibs)++];
        snprintf(l->prefix, sizeof(l->prefix), "%.*s_", (int)nl, specs[i] + 4);
        l->path = eq + 1;
        if (!(l->src = slurp(l->path))) return -1;
    }
    return kept;
}

static void free_libs(lib_t *libs, int nlibs) {
    for (int i = 0; i < nlibs; i++) free(libs[i].src);
}

static int write_c(const char *out_path, int n, char **specs, const lib_t *libs, int nlibs) {
    FILE *out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        return 1;
    }
    fprintf(out, "/* generated by tools/embed.c: do not edit */\n#include \"scripts.h\"\n\n");
    fprintf(out, "const char *const lc_script_src[] = {\n");
    for (int i = 0; i < n; i++) {
        char *eq = strchr(specs[i], '=');
        char *src = full_script(eq ? eq + 1 : specs[i], libs, nlibs);
        if (!src) {
            fclose(out);
            remove(out_path);
            return 1;
        }
        fprintf(out, "    /* %.*s */\n", eq ? (int)(eq - specs[i]) : 0, specs[i]);
        emit_c_string(out, src);
        free(src);
    }
    fprintf(out, "};\n\nconst char *const lc_script_name[] = {");
    for (int i = 0; i < n; i++) {
        char *eq = strchr(specs[i], '=');
        fprintf(out, "%s\"%.*s\"", i ? ", " : "", eq ? (int)(eq - specs[i]) : 0, specs[i]);
    }
    fprintf(out, "};\n");
    if (fclose(out) != 0) {
        remove(out_path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    lib_t libs[MAX_LIBS];
    int nlibs = 0;
    if (argc >= 3 && strcmp(argv[1], "--lua") == 0) {
        int n = take_libs(argc - 3, argv + 3, libs, &nlibs);
        char *src = n == 0 ? full_script(argv[2], libs, nlibs) : NULL;
        free_libs(libs, nlibs);
        if (!src) return 1;
        fputs(src, stdout);
        free(src);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: embed OUT.c [lib:NAME=FILE...] NAME=FILE...\n"
                        "       embed --lua FILE [lib:NAME=FILE...]\n");
        return 2;
    }
    int n = take_libs(argc - 2, argv + 2, libs, &nlibs);
    int rc = n < 0 ? 1 : write_c(argv[1], n, argv + 2, libs, nlibs);
    free_libs(libs, nlibs);
    return rc;
}
