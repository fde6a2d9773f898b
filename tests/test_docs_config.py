"""docs/configuration.md is what `robustrepro config-reference` generates from the code: every workflow
key of the schema, every run key of DEFAULT_RUN, every registered component with its options."""

from conftest import ROOT

from robustrepro.report.config_reference import components, page, run_keys, workflow_keys
from robustrepro.runs import DEFAULT_RUN


def test_the_configuration_page_is_the_generated_one():
    path = ROOT / "docs" / "configuration.md"
    assert path.read_text() == page(), "regenerate it: python -m robustrepro config-reference > docs/configuration.md"


def test_the_page_covers_every_key_and_component():
    assert {k for k, *_ in workflow_keys()} >= {"scale", "seeds", "data.root", "data.prepared", "device", "pack"}
    assert [k for k, *_ in run_keys()] == list(DEFAULT_RUN)
    assert all(meaning for _, _, meaning in run_keys()), "give every DEFAULT_RUN key a comment in runs.py"
    assert all(meaning for *_, meaning in workflow_keys()), "give every config key a description in the schema"
    found = {(section, name) for section, name, *_ in components()}
    assert {("model.name", "lenet"), ("noise.kind", "uniform"), ("attack.name", "pgd"),
            ("defence.name", "sum_augment"), ("step.name", "reweight")} <= found
    assert next(o for s, n, o, _ in components() if n == "sum_augment" and s == "defence.name").endswith(
        "average='probabilities'")
