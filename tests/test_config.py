"""The configuration schema: valid configs pass, every invalid value gives one line naming the key."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robustrepro import config as rr_config
from robustrepro.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid():
    assert rr_config.validate(copy.deepcopy(DEFAULT)) == DEFAULT


@pytest.mark.parametrize(
    "change, key, hint",
    [
        ({"scale": "huge"}, "'scale'", "smoke, quick, paper"),
        ({"device": "tpu"}, "'device'", "auto, cpu, cuda"),
        ({"threads": 0}, "'threads'", "[1, 256]"),
        ({"threads": "two"}, "'threads'", "integer"),
        ({"seeds": [-1]}, "'seeds.0'", "[0, inf]"),
        ({"seeds": []}, "'seeds'", "[]"),
        ({"data": {"root": "x", "mirror": "ftp://a"}}, "'data.mirror'", "https?"),
        ({"data": {"root": "x", "color": 1}}, "'data.color'", "unknown key"),
        ({"bogus": 1}, "'bogus'", "known keys"),
        ({"data": {"mirror": None}}, "'data.root'", "missing"),
    ],
)
def test_invalid_value_names_key_and_allowed(change, key, hint):
    bad = {**copy.deepcopy(DEFAULT), **change}
    with pytest.raises(UserError) as err:
        rr_config.validate(bad)
    message = str(err.value)
    assert key in message and hint in message
    assert "\n" not in message


def test_seeds_default_per_scale():
    assert rr_config.seeds({**DEFAULT, "scale": "smoke", "seeds": None}) == [0]
    assert rr_config.seeds({**DEFAULT, "scale": "paper", "seeds": None}) == [0, 1, 2]
    assert rr_config.seeds({**DEFAULT, "seeds": [7]}) == [7]


def test_load_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(UserError, match="not found"):
        rr_config.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: [\n")
    with pytest.raises(UserError, match="not valid YAML"):
        rr_config.load(bad)


def test_snakemake_stops_with_one_line_and_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", "device=tpu"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "robustrepro: config key 'device': bad value 'tpu'; allowed: one of auto, cpu, cuda" in proc.stderr
    assert "Traceback" not in proc.stderr
