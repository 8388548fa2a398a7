/* Admission control: at most `limit` at once, one more waits its time then is refused. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "admission.h"

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void beyond_the_limit_is_refused_after_the_wait_and_takes_nothing(void **state)
{
	(void)state;
	struct admission *a = admission_create(2, 50);
	assert_non_null(a);
	assert_true(admission_enter(a));
	assert_true(admission_enter(a));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_false(admission_enter(a));
	double waited = elapsed_ms(&t0);
	assert_true(waited >= 45 && waited < 2000); /* its wait, and not much more */
	assert_int_equal(admission_running(a), 2);
	admission_leave(a);
	assert_true(admission_enter(a)); /* a place given back is taken again */
	assert_int_equal(admission_running(a), 2);
	admission_leave(a);
	admission_leave(a);
	assert_int_equal(admission_running(a), 0);
	admission_destroy(a);
}

static void no_wait_refuses_at_once(void **state)
{
	(void)state;
	struct admission *a = admission_create(1, 0);
	assert_true(admission_enter(a));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_false(admission_enter(a));
	assert_true(elapsed_ms(&t0) < 500);
	admission_leave(a);
	admission_destroy(a);
}

static void *leave_later(void *arg)
{
	struct timespec pause = { 0, 100 * 1000000L };
	nanosleep(&pause, NULL);
	admission_leave(arg);
	return NULL;
}

static void a_waiter_gets_the_place_given_back(void **state)
{
	(void)state;
	struct admission *a = admission_create(1, 5000);
	assert_true(admission_enter(a));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, leave_later, a), 0);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_true(admission_enter(a)); /* admitted when the other leaves, long before its 5 s */
	assert_true(elapsed_ms(&t0) < 4000);
	pthread_join(t, NULL);
	assert_int_equal(admission_running(a), 1);
	admission_leave(a);
	admission_destroy(a);
}

static void no_limit_admits_everything(void **state)
{
	(void)state;
	struct admission *a = admission_create(0, 0);
	for (int i = 0; i < 1000; i++)
		assert_true(admission_enter(a));
	assert_int_equal(admission_running(a), 1000);
	admission_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(beyond_the_limit_is_refused_after_the_wait_and_takes_nothing),
		cmocka_unit_test(no_wait_refuses_at_once),
		cmocka_unit_test(a_waiter_gets_the_place_given_back),
		cmocka_unit_test(no_limit_admits_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
