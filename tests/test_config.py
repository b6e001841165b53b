from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from magickbox.config import load_settings
from magickbox.errors import SettingsError


def test_precedence_cli_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "magickbox.toml").write_text('ae_title = "FROMFILE"\nhttp_port = 3000\ndicom_port = 4000\n')
    monkeypatch.setenv("MAGICKBOX_HTTP_PORT", "3001")
    settings = load_settings(data=str(tmp_path), dicom_port=4001)
    assert settings.ae_title == "FROMFILE"
    assert settings.http_port == 3001
    assert settings.dicom_port == 4001


def test_bad_setting_names_itself(tmp_path: Path) -> None:
    (tmp_path / "magickbox.toml").write_text("dicom_port = 99999\n")
    with pytest.raises(SettingsError, match="dicom_port"):
        load_settings(data=str(tmp_path))


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "magickbox.toml").write_text("dicom_prot = 104\n")
    with pytest.raises(SettingsError, match="dicom_prot"):
        load_settings(data=str(tmp_path))


def test_serve_refuses_to_start_with_a_bad_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "magickbox.cli.magickbox", "serve", "--data", str(tmp_path),
         "--ae-title", "THIS-TITLE-IS-FAR-TOO-LONG"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "ae_title" in result.stderr


def test_broken_toml_is_named(tmp_path: Path) -> None:
    (tmp_path / "magickbox.toml").write_text("ae_title = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(data=str(tmp_path))


def test_env_lists_and_file_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "magickbox.toml").write_text('stages = ["receive"]\nallowed_calling_aets = ["A"]\n')
    monkeypatch.setenv("MAGICKBOX_ALLOWED_CALLING_AETS", '["B", "C"]')
    settings = load_settings(data=str(tmp_path))
    assert settings.stages == ["receive"]
    assert settings.allowed_calling_aets == ["B", "C"]


def test_pacs_nodes_from_toml_tables_and_from_env_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "magickbox.toml").write_text(
        '[pacs.HOSPITAL]\nhost = "10.0.0.5"\nport = 104\nae_title = "PACS"\nmethod = "get"\n'
    )
    node = load_settings(data=str(tmp_path)).pacs["HOSPITAL"]
    assert (node.host, node.port, node.ae_title, node.method) == ("10.0.0.5", 104, "PACS", "get")
    assert (node.max_parallel, node.query_model) == (1, "study")
    monkeypatch.setenv("MAGICKBOX_PACS", '{"OTHER": {"host": "h", "port": 11112, "ae_title": "O"}}')
    settings = load_settings(data=str(tmp_path))
    # The environment adds nodes to the file's (pydantic-settings merges tables by name).
    assert sorted(settings.pacs) == ["HOSPITAL", "OTHER"] and settings.pacs["OTHER"].method == "move"


@pytest.mark.parametrize(
    "table",
    [
        '[pacs.P]\nhost = "h"\nport = 104\nae_title = "P"\nmethod = "push"\n',
        '[pacs.P]\nhost = "h"\nport = 0\nae_title = "P"\n',
        '[pacs.P]\nhost = "h"\nport = 104\nae_title = "FAR-TOO-LONG-A-TITLE"\n',
        '[pacs."bad name"]\nhost = "h"\nport = 104\nae_title = "P"\n',
        '[pacs.P]\nhost = "h"\nport = 104\n',
    ],
)
def test_bad_pacs_node_is_refused_by_name(tmp_path: Path, table: str) -> None:
    (tmp_path / "magickbox.toml").write_text(table)
    with pytest.raises(SettingsError, match="pacs"):
        load_settings(data=str(tmp_path))
