#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_LEVEL_INFO;
static char app_tag[64] = "evc";

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *app, enum log_level level)
{
	snprintf(app_tag, sizeof(app_tag), "%s", app);
	min_level = level;
}

bool log_level_parse(const char *text, enum log_level *out)
{
	for (int i = 0; i <= LOG_LEVEL_ERROR; i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

/* The length of text[0..len) without a UTF-8 character cut at its end. */
static size_t utf8_whole(const char *text, size_t len)
{
	size_t start = len, tail = 0;
	while (start > 0 && tail < 3 && ((unsigned char)text[start - 1] & 0xc0) == 0x80) {
		start--;
		tail++;
	}
	if (start == 0)
		return len;
	unsigned char lead = (unsigned char)text[start - 1];
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	return need > 1 && tail + 1 < need ? start - 1 : len;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;

	struct timespec now;
	struct tm tm;
	char stamp[32];
	char line[2048];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	int n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s app=%s ", stamp,
			 now.tv_nsec / 1000000, level_names[level], app_tag);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);

	/* One fputs per line: stdio locks the stream, so lines stay whole. */
	size_t len = strnlen(line, sizeof(line) - 2);
	if (len == sizeof(line) - 2)
		len = utf8_whole(line, len); /* cut: never half a character */
	line[len] = '\n';
	line[len + 1] = '\0';
	fputs(line, stderr);
}
