"""Previews of a session's series through the store: ids checked, order kept, names hidden when
the box does not show them, renders cached in the session folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from magickbox.errors import InvalidInput, NotFound
from magickbox.preview import Previews
from magickbox.store import Session, Store
from tests.support import dicomdata
from tests.support.sessions import make_session


def _session_with_series(store: Store, tmp_path: Path) -> tuple[Session, str]:
    session = make_session(store)
    _, files = dicomdata.write_study(tmp_path / "study", 3)
    input_dir = store.layout.input_dir(session.scratchdir)
    for path in reversed(files):  # stored under names that sort against InstanceNumber
        (input_dir / f"x{len(list(input_dir.iterdir()))}.dcm").write_bytes(path.read_bytes())
    store.studies.index_input(session.id, input_dir)
    return session, str(store.studies.series(session.id)[0]["SeriesInstanceUID"])


def test_instances_in_order_and_a_cached_thumbnail(store: Store, tmp_path: Path) -> None:
    session, uid = _session_with_series(store, tmp_path)
    previews = Previews(store)
    items = previews.instances(session.scratchdir, uid)
    assert [i["tags"]["InstanceNumber"] for i in items] == ["1", "2", "3"]
    assert items[0]["tags"]["PatientName"] == "Test^Patient"
    first = previews.thumbnail(session.scratchdir, uid)
    cached = list((store.layout.session_dir(session.scratchdir) / ".preview").glob("*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == first
    assert previews.first_thumbnail(session.scratchdir) == first


def test_names_are_not_shown_when_the_box_does_not_index_them(store: Store, tmp_path: Path) -> None:
    session, uid = _session_with_series(store, tmp_path)
    store.studies.keep_names = False
    tags = Previews(store).instances(session.scratchdir, uid)[0]["tags"]
    assert "PatientName" not in tags and tags["PatientID"]


def test_ids_the_store_does_not_know_are_not_found(store: Store, tmp_path: Path) -> None:
    session, uid = _session_with_series(store, tmp_path)
    previews = Previews(store)
    for scratchdir, series in (("../etc", uid), ("tmp.AAAAAAAAAA", uid), (session.scratchdir, "1.2.3")):
        with pytest.raises(NotFound):
            previews.instances(scratchdir, series)
    for hostile in ("../x", "1.2.3/../../x", "1." + "2" * 70, ""):  # not a UID: refused before any look-up
        with pytest.raises(InvalidInput):
            previews.instances(session.scratchdir, hostile)
    for index in (-1, 3):
        with pytest.raises(NotFound):
            previews.instance_path(session.scratchdir, uid, index)
