"""Many trips at once over the same few chargers: whatever the interleaving, no
charger is ever booked twice, and every trip is all-or-nothing across the three
databases once the dust has settled (recovery included)."""

import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import requests

from conftest import assert_json, future_start, new_car_id
from tripkit import (COMPANY_IDS, fresh_stations, leg, live_counts_by_trip, live_of_trip,
                     log_tail, new_key, overlapping_live, post_trip, prepared, reservations_of_trip, route,
                     wait_for)

CONCURRENT_TRIPS = 120
SETTLE_WITHIN = 15      # seconds recovery gets to finish whatever was left in flight
LOSER_ANSWER_WITHIN = 5  # seconds the losing car of a race may wait for its 409
RACE_ROUNDS = 20
# Both through one server, both through others (the first leg's owner a is then remote to both), mixed.
RACE_COORDINATORS = [("b", "c"), ("a", "a"), ("c", "c"), ("a", "b"), ("c", "a")]
BAND_GAP_HOURS = 4       # the three bands of windows are this far apart


def settle(companies, car_prefix):
    """Waits until no trip of this test is in flight at any coordinator and nothing is
    prepared anywhere; returns {coordinator: [trip rows]}."""
    def rows():
        out = {}
        for cid, c in companies.items():
            out[cid] = [
                {"id": r[0], "status": r[1], "legs": r[2], "idempotency_key": r[3]}
                for r in c.sql("SELECT id::text, status, legs, idempotency_key FROM trips WHERE car_id LIKE %s",
                               (car_prefix + "%",))]
        return out

    def done():
        r = rows()
        busy = [t for ts_ in r.values() for t in ts_ if t["status"] not in ("confirmed", "aborted")]
        return r if not busy and not any(prepared(companies).values()) else None

    return wait_for(done, SETTLE_WITHIN, interval=0.5), rows


def test_concurrent_trips_never_double_book_and_are_all_or_nothing(companies, stack):
    """120 trips posted at once across the three coordinators, over 3 two-charger
    stations and a handful of heavily overlapping windows."""
    stations = dict(zip(COMPANY_IDS, fresh_stations(companies, chargers=2)))
    base = future_start()
    # Three bands of windows (leg 0, 1, 2 of a trip take one each); within a band the
    # windows are 1 h long and start 20 min apart, so nearly every pair overlaps.
    bands = [[base + timedelta(hours=BAND_GAP_HOURS * b, minutes=20 * k) for k in range(5)] for b in range(3)]
    tag = f"ct{uuid.uuid4().hex[:8]}"
    rng = random.Random()

    jobs = []
    for i in range(CONCURRENT_TRIPS):
        n = rng.choice((1, 2, 3, 3))
        chosen_bands = sorted(rng.sample(range(3), n))
        legs = [leg(stations[rng.choice(COMPANY_IDS)], rng.choice(bands[b])) for b in chosen_bands]
        jobs.append({"coordinator": COMPANY_IDS[i % 3], "legs": legs, "car": f"{tag}-{i}", "key": new_key(tag)})

    barrier = threading.Barrier(CONCURRENT_TRIPS)

    def run(job):
        try:
            barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        started = time.monotonic()
        try:
            r, _, _ = post_trip(companies[job["coordinator"]], job["legs"], car_id=job["car"], key=job["key"],
                                timeout=120)
            job["status"] = r.status_code
            try:
                job["body"] = r.json()
            except ValueError:
                job["body"] = r.text[:300]
        except requests.RequestException as e:
            job["status"] = None
            job["body"] = repr(e)
        job["elapsed"] = time.monotonic() - started

    threads = [threading.Thread(target=run, args=(j,), daemon=True) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "some POST /trips never returned"

    statuses = Counter(j["status"] for j in jobs)
    # 40 clients at once from one address exceed EVC_HTTP_MAX_CONN_PER_CLIENT (32): on a
    # loaded machine a connection past the cap that is slow to send gets the documented
    # 429 too_many_connections, which books nothing (checked below like every refusal).
    unexpected = [j for j in jobs if j["status"] not in (201, 409, 503) and not (
        j["status"] == 429 and isinstance(j["body"], dict)
        and j["body"].get("error", {}).get("code") == "too_many_connections")]
    assert not unexpected, (
        f"answers other than 201/409/429/503: {statuses}; first: {unexpected[0]}\n"
        + "\n".join(log_tail(stack, cid, 15, grep=("level=error", "level=warn")) for cid in COMPANY_IDS))
    assert statuses[201] >= 1, f"not a single trip confirmed: {statuses}"
    assert statuses[409] >= 1, f"heavy overlap but no trip refused: {statuses}"

    settled, rows = settle(companies, tag)
    all_rows = settled or rows()
    in_flight = [t for ts_ in all_rows.values() for t in ts_ if t["status"] not in ("confirmed", "aborted")]
    left = prepared(companies)
    assert not in_flight and not any(left.values()), (
        f"{SETTLE_WITHIN}s after the last answer: trips not finished {[(t['id'], t['status']) for t in in_flight][:10]}, "
        f"prepared {left}")

    # Never two live reservations of one charger overlapping, in any database.
    for c in companies.values():
        pairs = overlapping_live(c)
        assert not pairs, f"{c.id}: overlapping live reservations: {pairs[:5]}"

    # Every trip row has exactly its legs live (confirmed) or none (aborted).
    trips = {t["id"]: t for ts_ in all_rows.values() for t in ts_}
    reached = CONCURRENT_TRIPS - statuses[429]
    assert len(trips) == reached, (
        f"{len(trips)} trips rows for {reached} requests that reached a handler: {statuses}")
    live = live_counts_by_trip(companies, trips)
    wrong = []
    for tid, t in trips.items():
        want = len(t["legs"]) if t["status"] == "confirmed" else 0
        if live[tid] != want:
            wrong.append((tid, t["status"], len(t["legs"]), live[tid]))
    assert not wrong, f"trips not all-or-nothing (id, status, legs, live): {wrong[:10]}"

    # Every answer agrees with what stayed.
    by_key = {t["idempotency_key"]: t for t in trips.values()}
    for j in jobs:
        t = by_key.get(j["key"])
        if j["status"] == 429:
            assert t is None, f"a request refused at the connection wrote a trip: {j}, {t}"
            continue
        assert t is not None, f"no trips row for the request {j}"
        if j["status"] == 201:
            assert j["body"]["id"] == t["id"] and t["status"] == "confirmed", (j, t)
        elif j["status"] == 409:
            assert t["status"] == "aborted", (j, t)
            assert j["body"].get("trip_id") == t["id"], (j, t)
        elif j["status"] == 503:
            assert t["status"] == "aborted", (j, t)

    # The chargers' bookings are exactly the confirmed trips' legs.
    confirmed_legs = sum(len(t["legs"]) for t in trips.values() if t["status"] == "confirmed")
    live_total = sum(c.sql_one("SELECT count(*) FROM reservations WHERE station_id = %s"
                               " AND status IN ('held', 'confirmed')", (stations[cid],))[0]
                     for cid, c in companies.items())
    assert live_total == confirmed_legs, (live_total, confirmed_legs)
    print(f"\n{CONCURRENT_TRIPS} concurrent trips: {dict(statuses)}; "
          f"slowest answer {max(j['elapsed'] for j in jobs):.1f}s")


def test_two_cars_racing_for_one_route_exactly_one_wins(companies, stack):
    """Two cars ask for the same 3-leg route on single-charger stations at the same instant
    (through one coordinator or two): one gets it all, the other a quick 409 at the first leg
    and holds nothing. A race is won or lost by timing, so it is run many rounds."""
    wrong_failed_leg = []
    for rnd in range(RACE_ROUNDS):
        stations = fresh_stations(companies, chargers=1)
        legs = route(stations)
        coordinators = RACE_COORDINATORS[rnd % len(RACE_COORDINATORS)]
        barrier = threading.Barrier(2)
        results = [None, None]
        # Warm keep-alive connections, so both requests leave at the same instant after the barrier.
        sessions = [requests.Session() for _ in range(2)]
        for i, s in enumerate(sessions):
            s.get(companies[coordinators[i]].api_url + "/health", timeout=30)
        # Each car books for itself: its token is issued before the race starts.
        cars = [new_car_id(f"race{i}") for i in range(2)]
        auth = [companies[coordinators[i]].as_car(cars[i]) for i in range(2)]

        def race(i):
            body = {"car_id": cars[i], "legs": legs}
            url = companies[coordinators[i]].api_url + "/trips"
            barrier.wait(timeout=30)
            started = time.monotonic()
            try:
                r = sessions[i].post(url, json=body, headers={"Idempotency-Key": new_key("race"), **auth[i]},
                                     timeout=60)
                results[i] = (r, time.monotonic() - started)
            except requests.RequestException as e:
                results[i] = (e, time.monotonic() - started)

        threads = [threading.Thread(target=race, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        for s in sessions:
            s.close()
        for i, res in enumerate(results):
            assert res is not None and isinstance(res[0], requests.Response), f"round {rnd} car {i}: {res}"
        codes = sorted(res[0].status_code for res in results)
        answers = [(res[0].status_code, res[0].text[:300]) for res in results]
        if codes == [409, 409]:
            # Neither won. Were the chargers really taken? Nothing may be held, and the route must
            # still be free: then both refusals were wrong.
            for res in results:
                held = reservations_of_trip(companies, assert_json(res[0])["trip_id"])
                assert not any(r[2] in ("held", "confirmed") for rows in held.values() for r in rows), held
            again, _, _ = post_trip(companies["a"], legs)
            assert again.status_code != 201, (
                f"round {rnd} (coordinators {coordinators}): BOTH cars were refused (409) although the route "
                f"was free - a third car then got it (201). Answers: {answers}\n"
                + log_tail(stack, "a", 6, grep=("twopc_vote_no", "twopc_prepared")))
        assert codes == [201, 409], f"round {rnd} (coordinators {coordinators}): answers {answers}"
        winner = next(res for res in results if res[0].status_code == 201)
        loser = next(res for res in results if res[0].status_code == 409)
        trip = assert_json(winner[0])
        refused = assert_json(loser[0])
        assert loser[1] < LOSER_ANSWER_WITHIN, f"round {rnd}: the loser waited {loser[1]:.1f}s for its 409"
        assert isinstance(refused.get("alternatives"), dict), refused
        assert "windows" in refused["alternatives"] and "stations" in refused["alternatives"], refused
        assert refused.get("station_id") == stations[0], refused
        assert refused.get("error", {}).get("code") in ("no_charger_free", "busy"), refused

        assert sum(live_of_trip(companies, trip["id"]).values()) == 3, reservations_of_trip(companies, trip["id"])
        held = reservations_of_trip(companies, refused["trip_id"])
        assert not any(r[2] in ("held", "confirmed") for rows in held.values() for r in rows), held
        assert wait_for(lambda: not any(prepared(companies).values()), 5), prepared(companies)
        if refused.get("failed_leg") != 0:
            wrong_failed_leg.append((rnd, refused.get("failed_leg")))
    # Checked after the rounds, so that everything else is known to hold even when only this fails.
    assert not wrong_failed_leg, f"the loser's failed_leg should be 0 (round, failed_leg): {wrong_failed_leg}"
