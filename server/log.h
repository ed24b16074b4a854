/*
 * lc_log: one line per notable event, to stderr, with a UTC timestamp.
 * Never log tokens or message text (PROTOCOL.md / SECURITY policy): log
 * users, rooms, codes and counts.
 */
#ifndef LC_LOG_H
#define LC_LOG_H

void lc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
