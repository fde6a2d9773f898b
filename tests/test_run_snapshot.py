"""Every run and evaluation that the papers define, by id, per group and scale, against a snapshot.

A run's id hashes its resolved config, so this catches any change to a paper's settings, a scale's
shrinking or run resolution that would train something else. A change meant to do so regenerates
the snapshot (`python tests/test_run_snapshot.py`) and commits its diff with the change.
"""

import json
import sys
from pathlib import Path

from robustrepro.config import SCALE_SEEDS
from robustrepro.papers import all_papers
from robustrepro.scales import SCALES

SNAPSHOT = Path(__file__).parent / "snapshots" / "resolved_runs.json"


def resolved_ids() -> dict:
    """paper -> scale -> group -> sorted run ids and evaluation ids, at each scale's default seeds."""
    out: dict = {}
    for paper in all_papers():
        for scale in SCALES:
            runs = paper.runs(scale, SCALE_SEEDS[scale])
            evals = paper.evaluations(scale, SCALE_SEEDS[scale])
            out.setdefault(paper.slug, {})[scale] = {
                group.name: {"runs": sorted(r["run_id"] for r in runs if r["group"] == group.name),
                             "evaluations": sorted(r["eval_id"] for r in evals if r["group"] == group.name)}
                for group in paper.groups}
    return out


def _differences(now: dict, then: dict) -> list[str]:
    found = []
    for slug in sorted(set(now) | set(then)):
        for scale in SCALES:
            a, b = now.get(slug, {}).get(scale, {}), then.get(slug, {}).get(scale, {})
            for group in sorted(set(a) | set(b)):
                if a.get(group) != b.get(group):
                    new = set(a.get(group, {}).get("runs", [])) - set(b.get(group, {}).get("runs", []))
                    found.append(f"{slug} {scale} {group}: {len(new)} run id(s) not in the snapshot, e.g. "
                                 f"{sorted(new)[:1]}")
    return found


def test_every_paper_resolves_to_the_runs_of_the_snapshot():
    differences = _differences(resolved_ids(), json.loads(SNAPSHOT.read_text()))
    assert not differences, ("runs changed (regenerate with `python tests/test_run_snapshot.py` if meant): "
                             + "; ".join(differences[:5]))


def test_a_changed_setting_shows_as_a_difference():
    now = resolved_ids()
    then = json.loads(json.dumps(now))
    then["massive-noise"]["smoke"]["alpha-grid"]["runs"][0] = "synthetic-mnist-mlp1-alpha0-s0-0000000000"
    [line] = _differences(now, then)
    assert line.startswith("massive-noise smoke alpha-grid: 1 run id(s) not in the snapshot")


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(resolved_ids(), indent=1, sort_keys=True))
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
