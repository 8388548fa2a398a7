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

/* The inverse of days_from_civil: the date of the day z days after 1970-01-01. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

bool timeutil_in_range(int64_t epoch)
{
	return epoch >= TIMEUTIL_MIN_EPOCH && epoch < TIMEUTIL_MAX_EPOCH;
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

	/* Any year of four digits: the range is checked on the UTC value, after the offset. */
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
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

	/* At most 9999-12-31 plus a day of offset: far from int64 overflow. */
	int64_t t = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
	if (!timeutil_in_range(t))
		return false;
	*epoch = t;
	return true;
}

void timeutil_format_rfc3339(int64_t epoch, char out[TIMEUTIL_RFC3339_LEN])
{
	/* Clamped first, so the arithmetic below can neither overflow nor give a fifth year digit. */
	if (epoch < TIMEUTIL_MIN_EPOCH)
		epoch = TIMEUTIL_MIN_EPOCH;
	else if (epoch >= TIMEUTIL_MAX_EPOCH)
		epoch = TIMEUTIL_MAX_EPOCH - 1;

	int year, month, day;
	int sec = (int)(epoch % 86400);
	civil_from_days(epoch / 86400, &year, &month, &day);
	/*
	 * Exactly 20 characters for a year 2000..2099. The modulos change nothing within
	 * the range; they show the compiler the widths, which it cannot derive itself.
	 */
	snprintf(out, TIMEUTIL_RFC3339_LEN, "%04u-%02u-%02uT%02d:%02d:%02dZ", (unsigned)year % 10000u,
		 (unsigned)month % 100u, (unsigned)day % 100u, sec / 3600, sec / 60 % 60, sec % 60);
}

int64_t timeutil_now(void)
{
	return (int64_t)time(NULL);
}
