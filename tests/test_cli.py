"""The `regmix` command: fit, predict and simulate end to end, and clear errors with exit status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from regmix.cli import main
from regmix.config.mixtures import MixtureConfig
from regmix.formats import write_mixture_yaml, write_mixtures_csv
from regmix.mixtures.sampling import sample_mixtures

DOMAINS = ["web", "wiki", "code"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Mixtures, losses (two targets), a prior and a params.yaml with cheap settings."""
    folder = tmp_path_factory.mktemp("cli")
    mixtures = sample_mixtures({d: 1 / 3 for d in DOMAINS}, 24, MixtureConfig(), 0)
    w = np.array([[m[d] for d in DOMAINS] for m in mixtures])
    losses = pd.DataFrame({"index": np.arange(1, 25)})
    losses["metric/wiki_val_loss"] = 3 - 0.3 * np.log(w @ [0.2, 0.8, 0.0] + 0.02)
    losses["metric/code_val_loss"] = 3 - 0.3 * np.log(w @ [0.0, 0.1, 0.9] + 0.02)
    write_mixtures_csv(folder / "m.csv", mixtures, DOMAINS)
    losses.to_csv(folder / "l.csv", index=False)
    write_mixture_yaml(folder / "prior.yaml", {d: 1 / 3 for d in DOMAINS})
    write_mixtures_csv(
        folder / "new.csv", sample_mixtures({d: 1 / 3 for d in DOMAINS}, 200, MixtureConfig(), 5), DOMAINS
    )
    params = {
        "mixtures": {"temperature": 1.0},
        "regression": {
            "candidates": ["linear", "loglinear"],
            "folds": 3,
            "inner_folds": 2,
            "n_bootstrap": 100,
            "figures": False,
            "lightgbm": {"n_estimators": 20, "min_child_samples": 5},
        },
        "simulation": {"n_candidates": 5000, "top_k": 20, "n_bootstrap": 2, "bootstrap_candidates": 2000},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return folder


def test_fit_predict_simulate(project, tmp_path, capsys):
    p = project
    assert (
        main(
            [
                "fit",
                "--mixtures",
                str(p / "m.csv"),
                "--losses",
                str(p / "l.csv"),
                "--target",
                "metric/wiki_val_loss",
                "--out",
                str(tmp_path / "model"),
                "--params",
                str(p / "params.yaml"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "model" / "fit_report.json").read_text())
    # The losses follow a log-linear-style law exactly: the mixing law beats OLS on raw weights.
    assert report["folds"] == 3 and report["chosen"] == "loglinear"
    assert (
        main(
            [
                "predict",
                "--model",
                str(tmp_path / "model"),
                "--mixtures",
                str(p / "m.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns) == ["index", "prediction"] and list(pred["index"]) == list(range(1, 25))
    losses = pd.read_csv(p / "l.csv")["metric/wiki_val_loss"]
    assert np.abs(pred["prediction"] - losses).max() < 0.1 and pred["prediction"].corr(losses, "spearman") > 0.99
    assert (
        main(
            [
                "simulate",
                "--model",
                str(tmp_path / "model"),
                "--prior",
                str(p / "prior.yaml"),
                "--out",
                str(tmp_path / "sim"),
                "--params",
                str(p / "params.yaml"),
                "--n-bootstrap",
                "0",
            ]
        )
        == 0
    )
    doc = yaml.safe_load((tmp_path / "sim" / "optimal_mixture.yaml").read_text())
    assert set(doc["train"]) == {f"train_{d}" for d in DOMAINS} and doc["valid"] == {"valid_wiki": 1.0}
    assert max(doc["train"], key=doc["train"].get) == "train_wiki"  # the wiki loss is lowest with wiki data
    assert json.loads((tmp_path / "sim" / "simulation.json").read_text())["n_candidates"] == 5000
    assert "optimal mixture" in capsys.readouterr().out


def test_predict_output_is_that_of_the_fitted_model(project, tmp_path):
    """`regmix predict` on the saved model writes exactly what the model fitted in memory predicts."""
    from regmix.formats import read_mixtures_csv, read_training_data
    from regmix.regression.saved import fit_model, load_model

    p = project
    fit = ["fit", "--mixtures", str(p / "m.csv"), "--losses", str(p / "l.csv"), "--target", "metric/code_val_loss"]
    assert (
        main([*fit, "--out", str(tmp_path / "model"), "--params", str(p / "params.yaml"), "--candidates", "ensemble"])
        == 0
    )
    out = tmp_path / "p.csv"
    assert (
        main(["predict", "--model", str(tmp_path / "model"), "--mixtures", str(p / "new.csv"), "--out", str(out)]) == 0
    )
    weights, y = read_training_data(p / "m.csv", p / "l.csv", "metric/code_val_loss")
    config = load_model(tmp_path / "model").config
    model = fit_model("ensemble", weights.to_numpy(float), y.to_numpy(float), DOMAINS, "metric/code_val_loss", config)
    new = read_mixtures_csv(p / "new.csv", DOMAINS)
    expected = pd.DataFrame({"index": new.index, "prediction": model.predict(new.to_numpy(float))})
    assert out.read_text() == expected.to_csv(index=False, float_format="%.10g")


def test_fit_all_targets(project, tmp_path):
    assert (
        main(
            [
                "fit",
                "--mixtures",
                str(project / "m.csv"),
                "--losses",
                str(project / "l.csv"),
                "--target",
                "all",
                "--out",
                str(tmp_path),
                "--params",
                str(project / "params.yaml"),
                "--candidates",
                "linear",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metric__code_val_loss", "metric__wiki_val_loss"]


def test_errors_exit_2_with_a_clear_message(project, tmp_path, capsys):
    p = project
    assert (
        main(
            [
                "fit",
                "--mixtures",
                str(p / "m.csv"),
                "--losses",
                str(p / "l.csv"),
                "--target",
                "metric/nope",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "metric/nope" in err and "metric/wiki_val_loss" in err
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"regression": {"foldz": 3}}))
    assert (
        main(
            [
                "fit",
                "--mixtures",
                str(p / "m.csv"),
                "--losses",
                str(p / "l.csv"),
                "--target",
                "metric/wiki_val_loss",
                "--out",
                str(tmp_path),
                "--params",
                str(tmp_path / "bad.yaml"),
            ]
        )
        == 2
    )
    assert "regression.foldz" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--model",
                str(tmp_path / "none"),
                "--mixtures",
                str(p / "m.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 2
    )
    assert "regmix fit" in capsys.readouterr().err
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.pkl").write_bytes(b"\x80\x04K\x01.")  # a model from before the plain-data format
    assert main(["predict", "--model", str(tmp_path / "old"), "--mixtures", str(p / "m.csv"), "--out", "p.csv"]) == 2
    err = capsys.readouterr().err
    assert "old/model.pkl: a model in the old pickle format" in err and "refit with `regmix fit" in err


def test_bad_fit_input_is_reported_before_the_model_libraries_load(tmp_path):
    """A wrong CSV is the common mistake: its error comes before seconds of scikit-learn and LightGBM imports."""
    (tmp_path / "m.csv").write_text("index,train_web,train_wiki\n1,0.5,0.2\n")  # sums to 0.7
    (tmp_path / "l.csv").write_text("index,metric/target_val_loss\n1,3.0\n")
    code = (
        "import sys; from regmix.cli import main; "
        "code = main(['fit', '--mixtures', 'm.csv', '--losses', 'l.csv', '--target', 'metric/target_val_loss', "
        "'--out', 'fit']); print(code, sorted({'sklearn', 'lightgbm', 'statsmodels'} & set(sys.modules)))"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert p.stdout.split("\n")[0] == "2 []", p.stdout + p.stderr
    assert "m.csv, index 1: weights sum to 0.7" in p.stderr


def test_console_script_is_installed():
    exe = shutil.which("regmix", path=str(Path(sys.executable).parent))
    assert exe, "the `regmix` entry point is not installed in this environment (pip install -e .)"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "fit" in out and "predict" in out and "simulate" in out


def test_profile_subcommand_prints_dvc_set_params(tmp_path, capsys):
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "data").mkdir()
    assert (
        main(
            [
                "profile",
                "paper",
                "--data",
                str(tmp_path / "data"),
                "--tokenizer",
                str(tmp_path / "tokenizer.json"),
                "--params",
                str(REPO / "params.yaml"),
            ]
        )
        == 0
    )
    args = capsys.readouterr().out.split()
    assert args[::2] == ["-S"] * (len(args) // 2)
    settings = args[1::2]
    assert f"++domains.path='{tmp_path / 'data'}'" in settings
    assert f"++tokenizer.path='{tmp_path / 'tokenizer.json'}'" in settings
    assert "++domains.target='the_pile_pile_cc'" in settings
