"""The alert rules: valid, each with a runbook, each covered by a promtool unit test.

`promtool test rules` (monitoring/tests) checks what each rule does; these
tests check that the unit tests cover every rule and that promtool really
rejects what is wrong, so `make lint` cannot pass a broken rule file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.observability.conftest import RULE_TESTS_DIR, RULES_DIR

PROMTOOL_TIMEOUT_SECONDS = 60


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def _unit_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    for path in sorted(RULE_TESTS_DIR.glob("*.yml")):
        tests.extend(yaml.safe_load(path.read_text())["tests"])
    return tests


def _promtool(
    promtool: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
        cwd=cwd,
    )


def test_promtool_rejects_a_rule_with_a_broken_query(promtool: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: broken\n    rules:\n"
        "      - alert: Broken\n        expr: sum(rate(grpc_server_handled_total[5m])\n"
    )
    result = _promtool(promtool, "check", "rules", str(broken))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_promtool_unit_test_fails_when_an_alert_does_not_fire(
    promtool: Path, tmp_path: Path
) -> None:
    # The same rules, a test expecting the MariaDB alert while MariaDB is up.
    wrong = tmp_path / "wrong_test.yml"
    wrong.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(RULES_DIR / "databases.yml")],
                "evaluation_interval": "15s",
                "tests": [
                    {
                        "interval": "15s",
                        "input_series": [
                            {"series": 'mysql_up{job="db-mariadb"}', "values": "1x10"},
                            {"series": 'up{job="db-mariadb"}', "values": "1x10"},
                        ],
                        "alert_rule_test": [
                            {
                                "eval_time": "2m",
                                "alertname": "MariaDBConnectionFailure",
                                "exp_alerts": [{"exp_labels": {"database": "mariadb"}}],
                            }
                        ],
                    }
                ],
            }
        )
    )
    result = _promtool(promtool, "test", "rules", str(wrong))
    assert result.returncode != 0


def test_rule_files_pass_promtool_check(promtool: Path) -> None:
    files = sorted(str(path) for path in RULES_DIR.glob("*.yml"))
    result = _promtool(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: Path) -> None:
    files = sorted(str(path) for path in RULE_TESTS_DIR.glob("*.yml"))
    result = _promtool(promtool, "test", "rules", *files, cwd=RULE_TESTS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_fire_and_a_silence_case() -> None:
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    fired: set[str] = set()
    silent: set[str] = set()
    for test in _unit_tests():
        for case in test.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    assert alerts - fired == set(), "alerts no unit test sees firing"
    assert alerts - silent == set(), "alerts no unit test sees silent"


def test_every_recording_rule_has_a_value_test() -> None:
    records = {rule["record"] for rule in _rules() if "record" in rule}
    tested = " ".join(
        case["expr"] for test in _unit_tests() for case in test.get("promql_expr_test", [])
    )
    assert {record for record in records if record not in tested} == set()


def test_every_alert_has_a_severity_a_summary_and_a_runbook() -> None:
    for rule in _rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["runbook"].split()) >= 8, rule["alert"]
        # Pages are for the critical ones only.
        if rule["labels"].get("page") == "true":
            assert rule["labels"]["severity"] == "critical", rule["alert"]


def test_the_case_study_alerts_exist_for_every_database() -> None:
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    for database in ("MariaDB", "Redis", "PostgreSQL", "OpenSearch", "Cassandra"):
        failure = alerts[f"{database}ConnectionFailure"]
        assert failure["labels"] == {**failure["labels"], "severity": "critical", "page": "true"}
        latency = [name for name in alerts if name.startswith(database) and "Latency" in name]
        assert latency, f"no latency alert for {database}"
    disk = alerts["DatabaseDiskUsageHigh"]
    assert "0.85" in disk["expr"]


def test_the_events_saga_and_store_alerts_exist() -> None:
    alerts = {rule["alert"]: rule for rule in _rules() if "alert" in rule}
    expected = {
        "ConsumerLagHigh": "streammesh_events_consumer_lag",
        "DeadLettersGrowing": 'outcome="dead_lettered"',
        "RelayWithoutLeader": "streammesh_events_relay_leader",
        "SagaStuck": "streammesh_sagas_stuck",
        "SagaCompensatingTooLong": "streammesh_sagas_compensating",
        "SagaCompensatingTooOften": "service_saga:streammesh_sagas_compensated:ratio_rate15m",
        "StoreQueryLatencyHigh": "service_store:streammesh_store_query_seconds:p99_1m",
    }
    for name, metric in expected.items():
        assert metric in alerts[name]["expr"], name
