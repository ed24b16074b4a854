/* Reads a secret key file: its content, one trailing newline stripped.
 * Refuses an empty key. Returns 0, or -1 (reason on stderr). */
#ifndef LC_KEYFILE_H
#define LC_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

int lc_keyfile_read(const char *path, uint8_t *key, size_t cap, size_t *len);

#endif
