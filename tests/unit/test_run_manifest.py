"""The run manifest is one typed model: every committed manifest reads, a broken one is one line naming the field,
and a round trip keeps what this release does not know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbook.core.profiles import REPO_ROOT
from playbook.reports.layout import load_runs
from playbook.reports.run_manifest import ManifestError, RunManifest, read_manifest

COMMITTED = sorted((REPO_ROOT / "reference").rglob("manifest.json"))


def minimal(**changes) -> dict:
    data = {"run_id": "run-0001", "date": "2026-12-04", "status": "ok", "started_utc": "2026-12-04T09:00:00+00:00",
            "profile_file": "params/cpu-smollm2.yaml", "profile": {"name": "cpu-smollm2"}, "engine": "vllm",
            "days": [{"day": 1, "title": "Serve", "folder": "day01", "status": "ok", "error": None}]}  # fmt: skip
    return {**data, **changes}


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO_ROOT / "reference")))
def test_every_committed_manifest_reads(path):
    manifest = read_manifest(path)
    assert manifest.run_id.startswith("run-") and manifest.engine
    assert all(day.status in ("ok", "partial", "failed", "interrupted") for day in manifest.days)


def test_committed_manifests_exist():
    assert len(COMMITTED) >= 20


def test_a_broken_manifest_names_the_field(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(minimal(status="finished")))
    with pytest.raises(ManifestError, match=r"manifest.json: not a run manifest \(status: "):
        read_manifest(path)
    bad_day = minimal(days=[{"day": 1, "title": "Serve"}])
    path.write_text(json.dumps(bad_day))
    with pytest.raises(ManifestError, match=r"days\.0\.status"):
        read_manifest(path)
    path.write_text("{not json")
    with pytest.raises(ManifestError, match="cannot be read as JSON"):
        read_manifest(path)


def test_round_trip_keeps_unknown_keys_and_never_saves_the_folder(tmp_path):
    path = tmp_path / "2026-12-04" / "run-0001" / "manifest.json"
    RunManifest.model_validate(minimal(from_a_newer_release={"x": 1})).save(path)
    (run,) = load_runs(tmp_path)
    assert run.folder == str(Path("2026-12-04") / "run-0001") and run.profile_name == "cpu-smollm2"
    run.save(path)
    on_disk = json.loads(path.read_text())
    assert on_disk["from_a_newer_release"] == {"x": 1} and "folder" not in on_disk
