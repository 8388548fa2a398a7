/* The connection guard's arithmetic: who must be prompt, and when a head is whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "connguard.h"

static void an_address_beyond_its_share_must_be_prompt(void **state)
{
	(void)state;
	struct connguard *g = connguard_create(64, 3);
	assert_non_null(g);
	for (int i = 0; i < 3; i++)
		assert_int_equal(connguard_enter(g, "10.0.0.1"), CONNGUARD_SERVE);
	assert_int_equal(connguard_enter(g, "10.0.0.1"), CONNGUARD_PROMPT_CLIENT);
	/* Another address is not held to the first one's count. */
	assert_int_equal(connguard_enter(g, "10.0.0.2"), CONNGUARD_SERVE);
	int mine = 0;
	assert_int_equal(connguard_held(g, "10.0.0.1", &mine), 5);
	assert_int_equal(mine, 4);
	/* A connection that closes gives its place back. */
	connguard_leave(g, "10.0.0.1");
	connguard_leave(g, "10.0.0.1");
	assert_int_equal(connguard_enter(g, "10.0.0.1"), CONNGUARD_SERVE);
	connguard_destroy(g);
}

static void a_nearly_full_pool_keeps_its_reserve(void **state)
{
	(void)state;
	/* 32 threads: a reserve of 4, so from 28 open connections on each new one must be prompt. */
	struct connguard *g = connguard_create(32, 1000);
	char addr[32];
	for (int i = 0; i < 28; i++) {
		snprintf(addr, sizeof(addr), "10.0.1.%d", i);
		assert_int_equal(connguard_enter(g, addr), CONNGUARD_SERVE);
	}
	assert_int_equal(connguard_enter(g, "10.0.2.1"), CONNGUARD_PROMPT_BUSY);
	connguard_leave(g, "10.0.2.1");
	connguard_leave(g, "10.0.1.0");
	assert_int_equal(connguard_enter(g, "10.0.2.1"), CONNGUARD_SERVE);
	connguard_destroy(g);
}

static void every_slot_is_reused(void **state)
{
	(void)state;
	/* More addresses over time than slots: a left address frees its slot. */
	struct connguard *g = connguard_create(8, 2);
	char addr[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "192.168.%d.%d", i / 250, i % 250);
		assert_int_equal(connguard_enter(g, addr), CONNGUARD_SERVE);
		connguard_leave(g, addr);
	}
	int mine = -1;
	assert_int_equal(connguard_held(g, addr, &mine), 0);
	assert_int_equal(mine, 0);
	connguard_destroy(g);
}

static void a_head_is_whole_at_its_blank_line(void **state)
{
	(void)state;
	const char *whole[] = { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.0\n\n", "GET / HTTP/1.1\r\n\r\nbody" };
	const char *partial[] = { "", "G", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r", "GET / HTTP/1.1\r\n\r" };
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
		assert_true(connguard_head_complete(whole[i], strlen(whole[i])));
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		assert_false(connguard_head_complete(partial[i], strlen(partial[i])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_address_beyond_its_share_must_be_prompt),
		cmocka_unit_test(a_nearly_full_pool_keeps_its_reserve),
		cmocka_unit_test(every_slot_is_reused),
		cmocka_unit_test(a_head_is_whole_at_its_blank_line),
	};
	return cmocka_run_group_tests_name("connguard", tests, NULL, NULL);
}
