"""`robustrepro snakemake`: Snakemake's own command-line config options get one-line errors too."""

import subprocess
import sys

import pytest

from conftest import ROOT, smoke_config


def _launch(cwd, *args):
    return subprocess.run([sys.executable, "-m", "robustrepro", "snakemake", "-s", str(ROOT / "Snakefile"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["-n", "--config", "seeds"], "robustrepro: --config seeds: a config entry is key=value"),
    (["-n", "--config", "scale=smoke", "results/smoke/index.md"], "--config results/smoke/index.md: a config entry"),
    (["-n", "--configfile", "missing.yaml"], "robustrepro: --configfile missing.yaml: config file missing.yaml not found"),
    (["-n", "--configfile=broken.yaml"], "config file broken.yaml is not valid YAML at line 3"),
])
def test_a_bad_config_option_gets_one_line(tmp_path, args, message):
    (tmp_path / "broken.yaml").write_text("scale: smoke\ndata: [\n")
    proc = _launch(tmp_path, *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_good_options_run_snakemake_unchanged(tmp_path):
    cfg = smoke_config(tmp_path)
    proc = _launch(tmp_path, "-n", "-p", "--cores", "1", "results/smoke/massive-noise/figure1.pdf",
                   "--configfile", str(cfg), "--config", "seeds=[4]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Its runs train in packs (one job per model and alpha), whose commands carry the runs' seeds.
    assert '"seed": 4' in proc.stdout and '"seed": 0' not in proc.stdout
