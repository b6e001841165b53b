"""The page finds a patient among others: the search box (`/?q=`), the patient columns, the series
table on the session page and its "all sessions of this patient" link, in real Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.box import BoxProcess
from tests.support.dicomdata import write_patient_study
from tests.support.net import wait_until


def test_search_box_and_series_table(box_factory: type[BoxProcess], page: Any, tmp_path: Path) -> None:
    box = box_factory(data=tmp_path / "data").start()
    write_patient_study(tmp_path / "a", patient_id="SUBJ0412", patient_name="Müller^Jürgen", accession="A1",
                        series=(("T1 sag", "MR", 2), ("T2 ax", "MR", 1)))  # fmt: skip
    write_patient_study(tmp_path / "b", patient_id="SUBJ0999", patient_name="Roe^Rita", accession="A2")
    box.storescu(tmp_path / "a", "MODALITY")
    box.storescu(tmp_path / "b", "MODALITY")
    wait_until(lambda: len(box.get_json("/api/v1/sessions", q="subj")["items"]) == 2, timeout=30, what="2")

    page.goto(f"{box.url}/?q=SUBJ0412")
    rows = page.locator("#sessions tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert "Müller^Jürgen" in rows.first.inner_text() and "SUBJ0999" not in page.content()

    page.fill("input[name=q]", "roe^r")
    body = page.locator("#sessions tbody")
    wait_until(lambda: rows.count() == 1 and "SUBJ0999" in body.inner_text(), timeout=15, what="typed search")

    page.goto(f"{box.url}/?q=SUBJ0412")
    page.locator("#sessions tbody tr td.name a").first.click()
    page.locator("#series").wait_for()
    series = page.locator("#series tbody tr")
    assert (
        series.count() == 2 and "T1 sag" in series.nth(0).inner_text() and "MR" in series.nth(1).inner_text()
    )
    page.get_by_text("all sessions of this patient").click()
    page.wait_for_url("**/?q=SUBJ0412")
    assert page.locator("#sessions tbody tr").count() == 1
