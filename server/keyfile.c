#include "keyfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int lc_keyfile_read(const char *path, uint8_t *key, size_t cap, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot read key file %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(key, 1, cap, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        fprintf(stderr, "key file %s is larger than %zu bytes\n", path, cap);
        return -1;
    }
    if (n && key[n - 1] == '\n') n--;
    if (n && key[n - 1] == '\r') n--;
    if (n == 0) {
        fprintf(stderr, "key file %s is empty\n", path);
        return -1;
    }
    *len = n;
    return 0;
}
