/* The log line: UTF-8 (a city name) written as it is, and a line cut at its
 * length limit never ends in half a character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

/* Runs one log_write with stderr sent to a file; returns the line (caller frees). */
static char *logged(const char *prefix, const char *city, size_t repeat)
{
	char path[] = "/tmp/evc-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	size_t len = strlen(city) * repeat;
	char *text = malloc(len + 1);
	for (size_t i = 0; i < repeat; i++)
		memcpy(text + i * strlen(city), city, strlen(city));
	text[len] = '\0';
	log_write(LOG_LEVEL_INFO, "event=test%s city=\"%s\"", prefix, text);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	free(text);
	char *line = calloc(1, 4096);
	ssize_t n = pread(fd, line, 4095, 0);
	assert_true(n > 0);
	close(fd);
	unlink(path);
	return line;
}

/* True when s is well-formed UTF-8 (enough for this test: lead and continuation bytes agree). */
static int utf8_valid(const unsigned char *s)
{
	while (*s != '\0') {
		size_t need = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 0;
		if (need == 0)
			return 0;
		for (size_t k = 1; k < need; k++)
			if ((s[k] & 0xc0) != 0x80)
				return 0;
		s += need;
	}
	return 1;
}

static void keeps_utf8_city_names(void **state)
{
	(void)state;
	log_init("test", LOG_LEVEL_INFO);
	char *line = logged("", "São Luís", 1);
	assert_non_null(strstr(line, "city=\"São Luís\"\n"));
	free(line);
}

static void never_cuts_a_character_in_half(void **state)
{
	(void)state;
	log_init("test", LOG_LEVEL_INFO);
	for (size_t shift = 0; shift < 4; shift++) {
		char prefix[8] = "xxx"; /* moves where the cut falls */
		prefix[shift] = '\0';
		char *line = logged(prefix, "ã€𝄞", 400); /* 2-, 3- and 4-byte characters */
		char *cut = strchr(line, '\n');
		assert_non_null(cut);
		assert_true(cut - line < 2048);
		*cut = '\0';
		assert_true(utf8_valid((const unsigned char *)line));
		free(line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keeps_utf8_city_names),
		cmocka_unit_test(never_cuts_a_character_in_half),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
