#include "timeutil.h"

#include <stdio.h>
#include <time.h>

/* Reads exactly n decimal digits. */
static bool read_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, char a, char b)
{
	if (**p != a && **p != b)
		return false;
	(*p)++;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool timeutil_parse_rfc3339(const char *text, int64_t *epoch)
{
	const char *p = text;
	int year, month, day, hour, minute, second;

	if (!read_digits(&p, 4, &year) || !expect(&p, '-', '-') || !read_digits(&p, 2, &month) ||
	    !expect(&p, '-', '-') || !read_digits(&p, 2, &day) || !expect(&p, 'T', 't') ||
	    !read_digits(&p, 2, &hour) || !expect(&p, ':', ':') || !read_digits(&p, 2, &minute) ||
	    !expect(&p, ':', ':') || !read_digits(&p, 2, &second))
		return false;

	if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || minute > 59 || second > 59)
		return false;

	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (int n = 0; *p >= '0' && *p <= '9'; n++, p++)
			if (n >= 9)
				return false;
	}

	int offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int oh, om;
		p++;
		if (!read_digits(&p, 2, &oh) || !expect(&p, ':', ':') || !read_digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return false;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (*p != '\0')
		return false;

	*epoch = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
	return *epoch >= 0;
}

void timeutil_format_rfc3339(int64_t epoch, char out[TIMEUTIL_RFC3339_LEN])
{
	time_t t = (time_t)epoch;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, TIMEUTIL_RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t timeutil_now(void)
{
	return (int64_t)time(NULL);
}
