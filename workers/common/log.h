/*
 * One-line structured logs: "ts=... level=... app=... <key=value ...>".
 * Every line is written with a single call, so lines from different threads
 * never interleave. Never pass secrets (tokens, passwords) to these macros.
 */
#ifndef EVC_LOG_H
#define EVC_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Sets the tag printed as app=... and the minimum level. Call once, before threads. */
void log_init(const char *app, enum log_level level);

/* Parses "debug", "info", "warn" or "error"; false when unknown. */
bool log_level_parse(const char *text, enum log_level *out) __attribute__((warn_unused_result));

bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
