/*
 * The trip planner on small graphs checked by hand: the exact stops, charges,
 * windows and reasons, the taper curve, the range exactly at its limit.
 *
 * Most graphs use a 50 kWh battery at 20 kWh/100 km (0.2 kWh per km), minimum
 * 10% (5 kWh), target 80% (40 kWh), and roads at 80 km/h (100 km = 4500 s).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "planner.h"

#define T0 1800000000LL /* a departure on a whole minute (2027-01-15T08:00:00Z) */
#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-6)

/* A graph of cities "c0".."c{n-1}" named "City 0".. and the given roads. */
struct road_spec {
	int a, b;
	double km;
};

static struct planner_graph *graph(int ncities, const struct road_spec *roads, int nroads)
{
	struct planner_graph *g = planner_graph_new();
	assert_non_null(g);
	for (int i = 0; i < ncities; i++) {
		char id[24], name[24];
		snprintf(id, sizeof(id), "c%d", i);
		snprintf(name, sizeof(name), "City %d", i);
		assert_int_equal(planner_graph_add_city(g, id, name, -7.0 - i * 0.5, -35.0), i);
	}
	for (int i = 0; i < nroads; i++)
		assert_true(planner_graph_add_road(g, roads[i].a, roads[i].b, roads[i].km, 80.0, "BR-101"));
	assert_true(planner_graph_finish(g));
	return g;
}

static struct planner_request request(int origin, int destination, double soc, const struct planner_station *st,
				      size_t nst, int max_options)
{
	struct planner_request req = {
		.origin = origin,
		.destination = destination,
		.departure = T0,
		.battery = { .capacity_kwh = 50, .soc = soc, .consumption_kwh_per_100km = 20, .min_soc = 0.10,
			     .target_soc = 0.80 },
		.stations = st,
		.nstations = nst,
		.max_options = max_options,
	};
	return req;
}

static void taper_curve(void **state)
{
	(void)state;
	/* Full power up to 80%, then linear down to 20% of it at 100%. */
	NEAR(planner_charge_power(0.10, 100), 100);
	NEAR(planner_charge_power(0.80, 100), 100);
	NEAR(planner_charge_power(0.90, 100), 60);
	NEAR(planner_charge_power(0.95, 100), 40);
	NEAR(planner_charge_power(1.00, 100), 20);
	/* 20% -> 80% of 50 kWh at 100 kW: 30 kWh in 0.3 h. */
	NEAR(planner_charge_seconds(50, 0.20, 0.80, 100), 1080);
	/* 80% -> 90%: C / (4 P) ln(1 / 0.6) h = 0.125 * 0.5108... h. */
	NEAR(planner_charge_seconds(50, 0.80, 0.90, 100), 0.125 * log(1 / 0.6) * 3600);
	/* 80% -> 100%: C / (4 P) ln 5 h, about twice the time at full power. */
	NEAR(planner_charge_seconds(50, 0.80, 1.00, 100), 0.125 * log(5.0) * 3600);
	/* Across the knee: both parts add. */
	NEAR(planner_charge_seconds(50, 0.70, 0.90, 100), 180 + 0.125 * log(1 / 0.6) * 3600);
	NEAR(planner_charge_seconds(50, 0.60, 0.60, 100), 0);
	NEAR(planner_charge_seconds(50, 0.60, 0.50, 100), 0);
	/* The slow end is slower per kWh than the fast part. */
	assert_true(planner_charge_seconds(50, 0.90, 1.00, 100) > 2 * planner_charge_seconds(50, 0.10, 0.20, 100));
}

static void two_stops_on_a_line(void **state)
{
	(void)state;
	/* c0 -100- c1 -150- c2 -100- c3; stations at c1 (50 kW, 2.00) and c2 (100 kW, 1.50). */
	const struct road_spec roads[] = { { 0, 1, 100 }, { 1, 2, 150 }, { 2, 3, 100 } };
	struct planner_graph *g = graph(4, roads, 3);
	const struct planner_station st[] = {
		{ "a-one", "a", 1, 50, 2.00 },
		{ "b-two", "b", 2, 100, 1.50 },
	};
	struct planner_request req = request(0, 3, 0.50, st, 2, 1);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.noptions, 1);
	const struct planner_option *o = &res.options[0];
	assert_int_equal(o->nstops, 2);

	/* 25 kWh, 100 km use 20: c1 at exactly the minimum; it cannot reach c3 on 40 kWh, so to 80%. */
	const struct planner_stop *s = &o->stops[0];
	assert_int_equal(s->station, 0);
	assert_int_equal(s->city, 1);
	NEAR(s->km, 100);
	NEAR(s->arrive_soc, 0.10);
	NEAR(s->depart_soc, 0.80);
	NEAR(s->kwh, 35);
	NEAR(s->cost, 70);
	NEAR(s->charge_s, 2520); /* 35 kWh at 50 kW */
	assert_int_equal(s->arrive, T0 + 4500);
	assert_int_equal(s->start, T0 + 4500);
	assert_int_equal(s->end, T0 + 4500 + 2820); /* 5 min overhead + 42 min */

	/* 150 km use 30: arrives at 20%; charges only what the last 100 km need (50%). */
	s = &o->stops[1];
	assert_int_equal(s->station, 1);
	NEAR(s->arrive_soc, 0.20);
	NEAR(s->depart_soc, 0.50);
	NEAR(s->kwh, 15);
	NEAR(s->cost, 22.5);
	NEAR(s->charge_s, 540);
	assert_int_equal(s->arrive, T0 + 7320 + 6750);
	assert_int_equal(s->start, T0 + 14100); /* the window starts on the next whole minute */
	assert_int_equal(s->end, T0 + 14100 + 840);

	NEAR(o->arrive_soc, 0.10);
	NEAR(o->km, 350);
	NEAR(o->total_cost, 92.5);
	assert_int_equal(o->eta, T0 + 14940 + 4500);
	assert_int_equal(o->npath, 4);
	assert_int_equal(o->nroads, 3);
	planner_result_free(&res);
	planner_graph_free(g);
}

static void range_exactly_at_the_limit(void **state)
{
	(void)state;
	/* 90% of 50 kWh down to 10% is 40 kWh: 200 km exactly, no station needed. */
	const struct road_spec exact[] = { { 0, 1, 200 } };
	struct planner_graph *g = graph(2, exact, 1);
	struct planner_request req = request(0, 1, 0.90, NULL, 0, 3);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.noptions, 1);
	assert_int_equal(res.options[0].nstops, 0);
	NEAR(res.options[0].arrive_soc, 0.10);
	assert_int_equal(res.options[0].eta, T0 + 9000);
	planner_result_free(&res);
	planner_graph_free(g);

	/* One kilometre more is out of range, and the reason says by how much. */
	const struct road_spec over[] = { { 0, 1, 201 } };
	g = graph(2, over, 1);
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OUT_OF_RANGE);
	assert_int_equal(res.noptions, 0);
	NEAR(res.gap_km, 201);
	NEAR(res.range_km, 200);
	assert_int_equal(res.gap_from, 0);
	assert_int_equal(res.gap_to, 1);
	assert_non_null(strstr(res.reason, "longest gap"));
	planner_result_free(&res);
	planner_graph_free(g);
}

static void no_feasible_route(void **state)
{
	(void)state;
	/* c0 -100- c1 -300- c2, a station at c1: even 100% -> 10% lasts only 225 km, the gap is 300
	 * (the 80% target is a preference: the reason gives the range of a full charge). */
	const struct road_spec roads[] = { { 0, 1, 100 }, { 1, 2, 300 } };
	struct planner_graph *g = graph(3, roads, 2);
	const struct planner_station st[] = { { "a-mid", "a", 1, 150, 2.0 } };
	struct planner_request req = request(0, 2, 0.80, st, 1, 3);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OUT_OF_RANGE);
	assert_int_equal(res.noptions, 0);
	NEAR(res.gap_km, 300);
	NEAR(res.range_km, 225);
	assert_int_equal(res.gap_from, 1);
	assert_int_equal(res.gap_to, 2);
	assert_non_null(strstr(res.reason, "City 1"));
	assert_non_null(strstr(res.reason, "City 2"));
	planner_result_free(&res);
	planner_graph_free(g);

	/* No road at all. */
	const struct road_spec apart[] = { { 0, 1, 50 } };
	g = graph(3, apart, 1);
	req = request(0, 2, 0.80, NULL, 0, 3);
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_NO_ROAD);
	planner_result_free(&res);

	/* Below the minimum with no station at the origin. */
	req = request(0, 1, 0.05, NULL, 0, 3);
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OUT_OF_RANGE);
	assert_non_null(strstr(res.reason, "below"));
	planner_result_free(&res);

	/* Bad input is refused, not planned. */
	req = request(0, 0, 0.80, NULL, 0, 3);
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_INVALID);
	planner_result_free(&res);
	req = request(0, 1, 0.80, NULL, 0, 3);
	req.battery.target_soc = 0.05;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_INVALID);
	planner_result_free(&res);
	planner_graph_free(g);
}

static void the_target_charge_is_a_preference_not_a_cap(void **state)
{
	(void)state;
	/* c0 -150- c1 -210- c2, a station at c1: 210 km need 42 kWh + the 5 kWh minimum = 94%, above the 80% target. */
	const struct road_spec roads[] = { { 0, 1, 150 }, { 1, 2, 210 }, { 2, 3, 260 } };
	struct planner_graph *g = graph(4, roads, 3);
	const struct planner_station st[] = { { "a-mid", "a", 1, 100, 2.0 }, { "a-end", "a", 2, 100, 2.0 } };
	struct planner_request req = request(0, 2, 0.90, st, 1, 3);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_true(res.target_raised);
	assert_int_equal(res.options[0].nstops, 1);
	NEAR(res.options[0].stops[0].arrive_soc, 0.30);
	NEAR(res.options[0].stops[0].depart_soc, 0.94);
	NEAR(res.options[0].arrive_soc, 0.10);
	planner_result_free(&res);

	/* Within the target, nothing is raised. */
	req.battery.target_soc = 0.95;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_false(res.target_raised);
	planner_result_free(&res);

	/* 260 km need 52 kWh + 5: more than the battery holds, even at 100%; the reason says so. */
	req = request(0, 3, 0.90, st, 2, 3);
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OUT_OF_RANGE);
	assert_false(res.target_raised);
	assert_non_null(strstr(res.reason, "100%"));
	planner_result_free(&res);
	planner_graph_free(g);
}

static void charges_at_the_origin_when_below_minimum(void **state)
{
	(void)state;
	const struct road_spec roads[] = { { 0, 1, 100 } };
	struct planner_graph *g = graph(2, roads, 1);
	const struct planner_station st[] = { { "a-home", "a", 0, 100, 1.0 } };
	struct planner_request req = request(0, 1, 0.05, st, 1, 1);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.options[0].nstops, 1);
	const struct planner_stop *s = &res.options[0].stops[0];
	assert_int_equal(s->city, 0);
	NEAR(s->km, 0);
	NEAR(s->arrive_soc, 0.05);
	NEAR(s->depart_soc, 0.50); /* 5 kWh minimum + 20 kWh for 100 km */
	NEAR(s->kwh, 22.5);
	assert_int_equal(s->start, T0);
	planner_result_free(&res);
	planner_graph_free(g);
}

static void options_differ_and_are_sorted_by_arrival(void **state)
{
	(void)state;
	/*
	 *      c1 (fast 150 kW, slow 50 kW)
	 *  100/        \100
	 * c0            c3        25 kWh at c0: c1 at 10%, c2 at 14%; one stop either way.
	 *   90\        /130
	 *      c2 (100 kW)
	 * Via c1 fast: 9000 s drive + 300 + 480 (20 kWh); via c1 slow: + 1440 instead;
	 * via c2: 9900 + 300 + 864 (24 kWh). So: fast, slow, then c2.
	 */
	const struct road_spec roads[] = { { 0, 1, 100 }, { 1, 3, 100 }, { 0, 2, 90 }, { 2, 3, 130 } };
	struct planner_graph *g = graph(4, roads, 4);
	const struct planner_station st[] = {
		{ "b-slow", "b", 1, 50, 1.0 },
		{ "a-fast", "a", 1, 150, 3.0 },
		{ "c-south", "c", 2, 100, 2.0 },
	};
	struct planner_request req = request(0, 3, 0.50, st, 3, 3);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.noptions, 3);
	assert_int_equal(res.options[0].stops[0].station, 1);
	assert_int_equal(res.options[1].stops[0].station, 0);
	assert_int_equal(res.options[2].stops[0].station, 2);
	assert_int_equal(res.options[0].eta, T0 + 4500 + 780 + 4500);
	assert_int_equal(res.options[1].eta, T0 + 4500 + 1740 + 4500);
	NEAR(res.options[2].stops[0].kwh, 24);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res.options[i].nstops, 1);
		for (int j = i + 1; j < 3; j++) {
			assert_false(planner_option_same(&res.options[i], &res.options[j]));
			assert_true(res.options[i].eta <= res.options[j].eta);
		}
	}
	/* Asking for more than exist gives what exists, each once. */
	planner_result_free(&res);
	req.max_options = 10;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.noptions, 3);
	planner_result_free(&res);
	planner_graph_free(g);
}

static void near_copies_come_after_options_that_differ(void **state)
{
	(void)state;
	/*
	 * Two ways from c0 to c3, each with two stops. North: c1 (50 kW, or 45 kW next
	 * door) and c2; south: 10 km longer, c4 and c5. The 45 kW copy of the north way
	 * arrives 280 s later, the south way 522 s later: the south way still comes
	 * before the copy, which shares c2 and every road.
	 */
	const struct road_spec roads[] = { { 0, 1, 100 }, { 1, 2, 150 }, { 2, 3, 100 },
					   { 0, 4, 100 }, { 4, 5, 150 }, { 5, 3, 110 } };
	struct planner_graph *g = graph(6, roads, 6);
	const struct planner_station st[] = {
		{ "a-one", "a", 1, 50, 2.0 }, { "a-oneb", "a", 1, 45, 2.0 }, { "b-two", "b", 2, 100, 1.5 },
		{ "c-four", "c", 4, 50, 2.0 }, { "c-five", "c", 5, 100, 1.5 },
	};
	struct planner_request req = request(0, 3, 0.50, st, 5, 3);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.noptions, 3);
	assert_int_equal(res.options[0].stops[0].station, 0);
	assert_int_equal(res.options[0].stops[1].station, 2);
	assert_false(res.options[0].near_copy);
	assert_int_equal(res.options[1].stops[0].station, 3);
	assert_int_equal(res.options[1].stops[1].station, 4);
	assert_false(res.options[1].near_copy);
	assert_int_equal(res.options[1].eta, res.options[0].eta + 570); /* 522 s, on whole minutes */
	assert_int_equal(res.options[2].stops[0].station, 1);
	assert_true(res.options[2].near_copy);
	assert_int_equal(res.options[2].eta, res.options[0].eta + 300); /* 280 s, on whole minutes */
	planner_result_free(&res);

	/* Two asked: the two that differ, not the faster copy. */
	req.max_options = 2;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.noptions, 2);
	assert_int_equal(res.options[1].stops[0].station, 3);
	planner_result_free(&res);
	planner_graph_free(g);
}

static void a_delay_shifts_the_later_windows(void **state)
{
	(void)state;
	const struct road_spec roads[] = { { 0, 1, 100 }, { 1, 2, 150 }, { 2, 3, 100 } };
	struct planner_graph *g = graph(4, roads, 3);
	const struct planner_station st[] = { { "a-one", "a", 1, 50, 2.00 }, { "b-two", "b", 2, 100, 1.50 } };
	struct planner_request req = request(0, 3, 0.50, st, 2, 1);
	struct planner_result res;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	struct planner_option *o = &res.options[0];
	int64_t start0 = o->stops[0].start, start1 = o->stops[1].start, eta = o->eta;
	planner_option_delay(o, 0, start0 + 1800);
	assert_int_equal(o->stops[0].start, start0 + 1800);
	assert_int_equal(o->stops[0].wait_s, 1800);
	assert_int_equal(o->stops[1].start, start1 + 1800);
	assert_int_equal(o->eta, eta + 1800);
	assert_int_equal(o->wait_s, 1800);
	NEAR(o->stops[1].arrive_soc, 0.20); /* waiting costs no charge */
	/* An earlier start is never taken: the car is not there yet. */
	planner_option_delay(o, 1, start1);
	assert_int_equal(o->eta, eta + 1800);
	planner_result_free(&res);
	planner_graph_free(g);
}

static void too_many_stops(void **state)
{
	(void)state;
	/* Ten 150 km hops with a station at each city: one stop per city. */
	struct road_spec roads[10];
	struct planner_station st[10];
	char ids[10][16];
	for (int i = 0; i < 10; i++) {
		roads[i] = (struct road_spec){ i, i + 1, 150 };
		snprintf(ids[i], sizeof(ids[i]), "a-s%d", i);
		st[i] = (struct planner_station){ ids[i], "a", i, 100, 1.0 };
	}
	struct planner_graph *g = graph(11, roads, 10);
	struct planner_request req = request(0, 10, 0.80, st, 10, 2);
	struct planner_result res;
	req.max_stops = 9;
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_OK);
	assert_int_equal(res.options[0].nstops, 9);
	planner_result_free(&res);
	req.max_stops = 0; /* PLANNER_MAX_STOPS, 8: what POST /trips takes */
	assert_int_equal(planner_plan(g, &req, &res), PLANNER_TOO_MANY_STOPS);
	assert_non_null(strstr(res.reason, "9 charging stops"));
	planner_result_free(&res);
	planner_graph_free(g);
}

static void cities_by_id_or_name(void **state)
{
	(void)state;
	struct planner_graph *g = planner_graph_new();
	assert_int_equal(planner_graph_add_city(g, "joao-pessoa", "João Pessoa", -7.12, -34.85), 0);
	assert_int_equal(planner_graph_add_city(g, "recife", "Recife", -8.05, -34.88), 1);
	assert_true(planner_graph_add_road(g, 0, 1, 120, planner_road_speed("dual"), "BR-101"));
	assert_false(planner_graph_add_road(g, 0, 0, 10, 80, "BR-101"));
	assert_false(planner_graph_add_road(g, 0, 1, -5, 80, "BR-101"));
	assert_true(planner_graph_finish(g));
	assert_int_equal(planner_graph_find_city(g, "joao-pessoa"), 0);
	assert_int_equal(planner_graph_find_city(g, "João Pessoa"), 0);
	assert_int_equal(planner_graph_find_city(g, "JOãO PESSOA"), 0);
	assert_int_equal(planner_graph_find_city(g, "RECIFE"), 1);
	assert_int_equal(planner_graph_find_city(g, "Olinda"), -1);
	assert_string_equal(planner_road_highway(g, 0), "BR-101");
	NEAR(planner_road_speed("single"), 80);
	NEAR(planner_road_speed("state"), 70);
	NEAR(planner_road_speed("gravel"), PLANNER_DEFAULT_SPEED_KMH);
	/* About 104 km as the crow flies between the two centres. */
	double gc = planner_great_circle_km(-7.12, -34.85, -8.05, -34.88);
	assert_true(gc > 100 && gc < 106);
	planner_graph_free(g);

	/* Two cities with one name are refused. */
	g = planner_graph_new();
	assert_int_equal(planner_graph_add_city(g, "x1", "Same", 0, 0), 0);
	assert_int_equal(planner_graph_add_city(g, "x2", "same", 0, 1), 1);
	assert_false(planner_graph_finish(g));
	planner_graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(taper_curve),
		cmocka_unit_test(two_stops_on_a_line),
		cmocka_unit_test(range_exactly_at_the_limit),
		cmocka_unit_test(no_feasible_route),
		cmocka_unit_test(charges_at_the_origin_when_below_minimum),
		cmocka_unit_test(options_differ_and_are_sorted_by_arrival),
		cmocka_unit_test(near_copies_come_after_options_that_differ),
		cmocka_unit_test(a_delay_shifts_the_later_windows),
		cmocka_unit_test(too_many_stops),
		cmocka_unit_test(the_target_charge_is_a_preference_not_a_cap),
		cmocka_unit_test(cities_by_id_or_name),
	};
	return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
