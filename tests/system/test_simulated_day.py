"""A short accelerated day of the simulator (build/evc-sim) against the real stack.

Sixteen cars at 900x for 90 s (22 simulated hours) on the demo network: they plan
over MQTT, book trips across the three companies, meet each other at the popular
stations (409s, the waitlist), drive and charge on one simulated clock (their
windows are booked on it, so they arrive in them), check in, finish their trips.
What the simulator's summary says is checked against the companies' databases:
trips booked and completed, at least one 409 and one waitlist grant, charging
sessions with energy, and no car below 2 % while driving (its telemetry).

The stations with an OCPP key (the stack's ocpp-keys) are OCPP charge points of
their companies' central systems (--ocpp-only: the stations other tests made
are left alone): they boot, get ReserveNow for the booked windows, and charge
the cars by StartTransaction / MeterValues / StopTransaction, so the energy and
cost of a booking come from the charger's meter.
"""

import re
import subprocess
import time
from pathlib import Path

from conftest import REPO

SIM_BIN = REPO / "build" / "evc-sim"
CARS, SPEEDUP, DURATION = 16, 900, 90
SUMMARY_RE = re.compile(r"^summary t=\d+s .*$", re.M)
OCPP_RE = re.compile(r"^ocpp t=\d+s .*$", re.M)


def summary(text, pattern=SUMMARY_RE):
    lines = pattern.findall(text)
    assert lines, f"no {pattern.pattern} line in the simulator's output:\n{text[-3000:]}"
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", lines[-1])}


def ocpp_keys(stack):
    lines = (Path(stack["state_dir"]) / "ocpp-keys").read_text().split()
    return dict(line.split(":", 1) for line in lines)


def run_day(stack, log):
    with open(log, "wb") as out:
        subprocess.run([str(SIM_BIN), "--broker", stack["mqtt_url"], "--companies", "a,b,c", "--cars", str(CARS),
                        "--seed", "7", "--speedup", str(SPEEDUP), "--duration", str(DURATION),
                        "--ocpp-keys", str(Path(stack["state_dir"]) / "ocpp-keys"), "--ocpp-only",
                        "--summary-every", "10", "--credentials", stack["mqtt_credentials_file"]],
                       stdout=out, stderr=subprocess.STDOUT, timeout=DURATION + 30, check=True)
    return log.read_text(errors="replace")


def test_an_accelerated_day_books_charges_and_never_runs_flat(companies, stack, tmp_path):
    assert SIM_BIN.is_file(), f"{SIM_BIN} missing: run make build"
    cars = [f"car-{i:03d}" for i in range(1, CARS + 1)]
    started = companies["a"].sql_one("SELECT now()")[0]
    try:
        text = run_day(stack, tmp_path / "evc-sim.log")
    finally:
        # The simulator's charge points are gone now; left as they are, the demo stations
        # would be judged offline (EVC_OCPP_OFFLINE_AFTER_S) in the middle of later tests.
        # Put them back as stations that never spoke OCPP, as the other tests expect
        # (after a second: the workers stamp a connection's loss when they see it).
        time.sleep(1)
        for c in companies.values():
            c.sql("UPDATE ocpp_stations SET connected_until = NULL, offline_since = NULL"
                  " WHERE station_id = ANY(%s)", (list(ocpp_keys(stack)),))
    s = summary(text)
    # A summary line a minute by default; here every 10 s, so several.
    assert len(SUMMARY_RE.findall(text)) >= DURATION // 10, text[-2000:]
    assert s["trips_booked"] >= 1 and s["trips_finished"] >= 1, s
    assert s["conflicts_409"] >= 1, f"no contention: {s}"
    assert s["waitlist_joins"] >= 1 and s["waitlist_grants"] >= 1, s
    assert s["sessions"] >= 1 and s["kwh"] > 0, s
    assert s["tows"] == 0 and s["min_soc_driving"] >= 2, f"a car ran flat: {s}"

    def rows(sql):
        return sum(c.sql_one(sql, (cars, started))[0] or 0 for c in companies.values())

    # The databases agree: legs completed by finished trips, checked-in sessions with energy, grants.
    assert rows("SELECT count(*) FROM reservations WHERE car_id = ANY(%s) AND created_at > %s"
                " AND status = 'completed'") >= 1
    assert rows("SELECT count(*) FROM v_sessions v JOIN reservations r ON r.id = v.reservation_id"
                " WHERE v.car_id = ANY(%s) AND r.created_at > %s AND v.energy_wh > 0") >= 1
    assert rows("SELECT count(*) FROM waitlist WHERE car_id = ANY(%s) AND created_at > %s"
                " AND status = 'granted'") >= 1
    # Telemetry in percent, and never below 2 % while moving.
    lowest = [c.sql_one("SELECT min(soc), max(soc) FROM car_telemetry WHERE car_id = ANY(%s) AND received_at > %s"
                        " AND speed_kmh > 0", (cars, started)) for c in companies.values()]
    moving = [lo for lo, hi in lowest if lo is not None]
    assert moving and min(moving) >= 2, lowest
    assert max(hi for _, hi in lowest if hi is not None) > 1, f"telemetry is not in percent: {lowest}"
    # The trips the companies coordinated for these cars: at least one finished.
    assert rows("SELECT count(*) FROM trips WHERE car_id = ANY(%s) AND created_at > %s AND status = 'finished'") >= 1

    # The stations spoke OCPP: each keyed station booted at its company's central system during the run
    # and reported its connectors; bookings were checked in by StartTransaction and finished by
    # StopTransaction, whose meter gave the booking its energy and cost.
    keyed = {c: sorted(st for st in ocpp_keys(stack) if st.startswith(c + "-")) for c in companies}
    assert all(keyed.values()), keyed
    for c, db in companies.items():
        in_service = db.sql_one("SELECT count(*) FROM stations WHERE id = ANY(%s) AND status <> 'maintenance'",
                                (keyed[c],))[0]  # one in maintenance is Rejected at boot
        booted = db.sql_one("SELECT count(*) FROM ocpp_stations WHERE station_id = ANY(%s) AND booted_at > %s",
                            (keyed[c], started))[0]
        assert booted == in_service > 0, (c, booted, keyed[c])
        reported = db.sql_one("SELECT count(DISTINCT station_id) FROM ocpp_chargers WHERE station_id = ANY(%s)"
                              " AND updated_at > %s", (keyed[c], started))[0]
        assert reported == booted, (c, reported, booted)
    o = summary(text, OCPP_RE)
    assert o["connected"] == sum(map(len, keyed.values())) and o["sessions_started"] >= 1, o
    sessions = rows("SELECT count(*) FROM ocpp_transactions t JOIN reservations r ON r.id = t.reservation_id"
                    " WHERE r.car_id = ANY(%s) AND t.started_at > %s AND t.stopped_at IS NOT NULL"
                    " AND t.energy_wh > 0 AND r.status = 'completed' AND r.checked_in_at IS NOT NULL"
                    " AND r.energy_wh = t.energy_wh AND r.cost = t.cost AND r.cost > 0")
    assert sessions >= 1, "no booking was charged and metered over OCPP"
    metered = rows("SELECT count(*) FROM ocpp_meter_values m JOIN ocpp_transactions t ON t.id = m.transaction_id"
                   " JOIN reservations r ON r.id = t.reservation_id WHERE r.car_id = ANY(%s) AND t.started_at > %s")
    assert metered >= 1, "no MeterValues during a charging session"
    # The simulator stopped the sessions still open when it ended.
    assert rows("SELECT count(*) FROM ocpp_transactions WHERE id_tag = ANY(%s) AND started_at > %s"
                " AND stopped_at IS NULL") == 0
