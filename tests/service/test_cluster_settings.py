"""``[node]`` and ``[metrics]`` (issue #18): defaults, and a clear error for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanfax.model.errors import ConfigError
from lanfax.service.settings import settings_from_mapping


def test_defaults_are_one_node_named_main_and_no_metrics_token() -> None:
    s = settings_from_mapping({})
    assert s.node.name == "main"
    assert (s.node.heartbeat_s, s.node.lease_s) == (5.0, 30.0)
    assert s.metrics.token == ""


def test_a_node_and_a_metrics_token_file(tmp_path: Path) -> None:
    (tmp_path / "metrics.token").write_text("abcdefghijklmnop0123\n")
    s = settings_from_mapping(
        {
            "node": {"name": "fax-2", "heartbeat_s": 2, "lease_s": 10},
            "metrics": {"token_file": "metrics.token"},
        },
        base_dir=tmp_path,
    )
    assert (s.node.name, s.node.heartbeat_s, s.node.lease_s) == ("fax-2", 2.0, 10.0)
    assert s.metrics.token == "abcdefghijklmnop0123"
    assert "abcdefghijklmnop0123" not in repr(s.metrics)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"node": {"name": "fax 2"}}, "node.name: 'fax 2' is not a node name"),
        ({"node": {"name": ""}}, "is not a node name"),
        ({"node": {"nmae": "x"}}, "unknown key(s) node.nmae"),
        ({"node": {"heartbeat_s": 0}}, "node.heartbeat_s: 0 is not allowed"),
        ({"node": {"heartbeat_s": 10, "lease_s": 20}}, "at least three heartbeats"),
        ({"node": "fax2"}, "node must be a table"),
        ({"metrics": {"token": "short"}}, "at least 16 characters"),
        ({"metrics": {"token": "a" * 20, "token_file": "x"}}, "not both"),
        ({"metrics": {"token_file": "/nonexistent/metrics.token"}}, "cannot read"),
    ],
)
def test_mistakes_are_named(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping(doc, source="lanfax.toml")
    assert message in err.value.message
    assert err.value.message.startswith("lanfax.toml: ")
    assert err.value.hint
