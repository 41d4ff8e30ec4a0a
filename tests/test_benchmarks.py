"""Each benchmark runs at a tiny size so it keeps working; the numbers are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CHROMIUM
from .services import need_rabbitmq, need_redis

pytestmark = pytest.mark.benchmark

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_fanout_measures_latency_cpu_and_memory() -> None:
    server = (
        f"{sys.executable} -m tourpanel.server tours"
        " --host 127.0.0.1 --port {port} --tours-interval 0.2"
    )
    [result] = run(
        "benchmarks.fanout",
        "--clients",
        "20",
        "--duration",
        "2",
        "--warmup",
        "0",
        "--prime",
        "0.5",
        "--target",
        f"python|{server}",
    )
    assert result["connected"] == 20
    assert result["delivered"] > 0
    assert result["p50_ms"] >= 0  # type: ignore[operator]
    assert result["rss_kb_per_connection"] is not None


def test_handshake_counts_handshakes_and_refusals_of_a_wrong_token() -> None:
    server = (
        f"{sys.executable} -m tourpanel.server tours"
        " --host 127.0.0.1 --port {port} --log-level WARNING --jwt-secret {secret}"
    )
    valid, wrong = run(
        "benchmarks.handshake",
        "--concurrency",
        "4",
        "--duration",
        "1",
        "--refusal-duration",
        "0.5",
        "--warmup",
        "0.2",
        "--target",
        f"python|{server}",
    )
    assert valid["handshakes"] > 0  # type: ignore[operator]
    assert set(valid["statuses"]) == {"101"}  # type: ignore[arg-type]
    assert wrong["handshakes"] > 0  # type: ignore[operator]
    assert set(wrong["statuses"]) == {"401"}  # type: ignore[arg-type]


def test_ingest_compares_the_listener_with_a_bare_loop() -> None:
    [result] = run("benchmarks.ingest", "--messages", "3000", "--maxlen", "1000")
    assert result["buffer_rows"] == 1000  # bounded by the buffer, not the message count
    assert result["bare_msgs_per_s"] > 0  # type: ignore[operator]
    assert result["listener_msgs_per_s"] > 0  # type: ignore[operator]


@pytest.mark.services
def test_scaleout_compares_memory_redis_and_two_instances() -> None:
    need_redis()
    results = run(
        "benchmarks.scaleout",
        "--clients", "20",
        "--duration", "0.5",
        "--warmup", "0",
        "--prime", "0",
        "--drain", "0.5",
    )  # fmt: skip
    assert [r["scenario"] for r in results] == ["memory-1", "redis-1", "redis-2"]
    for result in results:
        assert result["connected"] == 20
        assert result["delivered"] > 0  # type: ignore[operator]
        assert result["lost"] == result["duplicated"] == 0
        assert result["server_log"] == []
    memory, redis_1, redis_2 = results
    assert memory["redis_cpu_us_per_message"] is None
    assert memory["p99_minus_reference_ms"] is None
    assert redis_1["redis_cpu_us_per_message"] is not None
    assert sorted(redis_2["roles"]) == ["follower", "leader"]  # type: ignore[type-var]
    assert len(redis_2["p99_ms_by_instance"]) == 2  # type: ignore[arg-type]
    assert redis_2["p99_minus_reference_ms"] is not None


@pytest.mark.services
def test_failover_times_a_kill_9_of_the_leader_and_checks_the_seqs() -> None:
    need_redis()
    *trials, summary = run(
        "benchmarks.failover",
        "--trials", "1",
        "--instances", "2",
        "--lease", "1",
        "--before", "3",
        "--after", "5",
    )  # fmt: skip
    [trial] = trials
    assert 0 < trial["failover_s"] < 5  # type: ignore[operator]
    assert trial["client_instance_leads"] is True  # the only one left
    assert summary["trials"] == 1
    assert summary["consecutive"] is True


@pytest.mark.services
def test_broker_times_events_from_publish_to_each_instance_client() -> None:
    need_redis()
    need_rabbitmq()
    results = run("benchmarks.broker", "--events", "30", "--rate", "100", "--warmup", "5")
    assert len(results) == 2  # a client on each instance
    for result in results:
        assert result["sent"] == result["delivered"] == 30
        assert result["unmatched"] == 0
        assert result["dead_lettered"] == 0
        assert result["p50_ms"] > 0  # type: ignore[operator]
    assert sum(r["applied_here"] for r in results) == 30  # type: ignore[misc]


@pytest.fixture
def chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")


@pytest.mark.usefixtures("chromium")
def test_e2e_measures_time_to_screen_and_upstream_connections() -> None:
    [result] = run("benchmarks.e2e", "--sessions", "2", "--duration", "3", "--rate", "20")
    assert result["samples"] > 0  # type: ignore[operator]
    assert result["upstream_connections"] == 2  # one per feed, whatever the tabs


@pytest.mark.usefixtures("chromium")
def test_soak_samples_every_process(tmp_path: Path) -> None:
    chart = tmp_path / "soak.svg"
    args = (
        "--duration",
        "4",
        "--warmup",
        "1",
        "--every",
        "1",
        "--rate",
        "200",
        "--svg",
        str(chart),
    )
    [result] = run("benchmarks.soak", *args)
    assert set(result["growth_percent"]) == {"server", "panel", "chromium"}  # type: ignore[arg-type]
    assert result["messages_sent"] > 0  # type: ignore[operator]
    assert chart.read_text().startswith("<svg")
