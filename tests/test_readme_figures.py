"""README.md's figures equal the files that hold them (`benchmarks/readme_tables.py`).

Each `<!-- table: FILE -->` block must be what FILE renders, and each inline figure listed in
`readme_tables.FIGURES` must be what its file gives. A file not made yet (a benchmark not run,
`reports/metrics.json` before `dvc repro`) skips its figures, naming the command that makes it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_tables", REPO / "benchmarks" / "readme_tables.py")
rt = sys.modules.setdefault("readme_tables", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(rt)

README = (REPO / "README.md").read_text(encoding="utf-8")


def _outcome(result) -> None:
    if result.ok is None:
        pytest.skip(result.message)
    assert result.ok, result.message


@pytest.mark.parametrize("block", rt.blocks(README), ids=lambda m: m["source"])
def test_readme_block(block):
    _outcome(rt.check_block(REPO, block))


@pytest.mark.parametrize("figure", rt.FIGURES, ids=lambda f: f"{f.source}:{f.pattern[:40]}")
def test_readme_inline_figure(figure):
    _outcome(rt.check_figure(REPO, README, figure))


def test_every_block_has_a_renderer_and_a_maker():
    sources = [m["source"] for m in rt.blocks(README)]
    assert sources, "README.md has no generated blocks"
    for source in sources:
        rt.renderer(source)  # raises for an unknown file
    for source in {*sources, *(f.source for f in rt.FIGURES)} - rt.CONFIGS:
        assert source in rt.MAKERS, f"{source}: add the command that makes it to MAKERS"


def test_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="without its"):
        rt.blocks("a\n<!-- table: reports/metrics.json -->\n| x |\n")


# ---------------------------------------------------------------- the mechanism, on a README of its own


def _regression_results(p_value: float, n_boot: int = 1000) -> dict:
    model = {"pile_cc": {"rho": 0.99, "ci95": [0.985, 0.994]}, "mean_rho": 0.991, "fit_s": 1.234, "simulate_s": 20.56}
    floor = 1 / (n_boot + 1)
    return {
        "date": "2030-01-02T03:04:05+00:00",
        "machine": {"usable_cores": 2, "threads_env": {"OPENBLAS_NUM_THREADS": "1"}, "load_average_at_start": [1.5]},
        "versions": {"lightgbm": "4.7.0", "scikit-learn": "1.9.1"},
        "settings": {
            "folds": 10,
            "inner_folds": 3,
            "n_rows": 512,
            "n_bootstrap": n_boot,
            "targets": ["pile_cc", "arxiv"],
            "n_candidates": 1_000_000,
            "ensemble_members": ["gp", "gp_sqrt", "lightgbm_reg"],
            "lightgbm_reg": {
                "n_estimators": 600,
                "learning_rate": 0.025,
                "num_leaves": 8,
                "min_child_samples": 5,
                "subsample": 0.8,
                "colsample": 0.8,
            },
        },
        "models": [
            {"name": "lightgbm", **model},
            {"name": "ensemble", **model},
            {"name": "chosen", **model, "final_model": "ensemble"},
        ],
        "paired_tests": [
            {
                "against": "lightgbm",
                "rho_difference": 0.0076,
                "ci95": [0.0057, 0.0104],
                "p_value": p_value,
                "p_floor": floor,
                "at_floor": p_value <= floor,
                "p_text": f"p < {floor:.1g}" if p_value <= floor else f"p = {p_value:.2g}",
            }
        ],
    }


def test_regression_table_reports_the_p_floor():
    at_floor = rt.render_regression(_regression_results(1 / 1001), "r.json")
    prose = " ".join(at_floor.split())  # the prose is wrapped
    assert "one-sided paired bootstrap p < 0.001 (no resample of 1,000 favoured LightGBM" in prose
    assert "can give is 1/1,001)." in prose
    above = rt.render_regression(_regression_results(0.0123), "r.json")
    assert "bootstrap p = 0.012." in " ".join(above.split()) and "no resample" not in above
    assert "| **chosen by nested CV** (final: ensemble) | **99.00 (98.50-99.40)** | **99.10** | 1.23 | 20.6 |" in above
    assert "| ensemble (gp, gp_sqrt, lightgbm_reg) | 99.00 (98.50-99.40) | 99.10 |" in above
    assert "| model | Pile-CC rho (95% CI) | mean rho, 2 targets | fit s (512 rows) | simulate 1,000,000 s |" in above


def _project(tmp_path: Path, readme: str, metrics: dict | None, timing: dict | None) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "README.md").write_text(readme)
    if metrics is not None:
        (tmp_path / "reports").mkdir()
        (tmp_path / "reports" / "metrics.json").write_text(json.dumps(metrics))
    if timing is not None:
        (tmp_path / "benchmarks" / "results").mkdir(parents=True)
        (tmp_path / "benchmarks" / "results" / "pipeline_timing_default.json").write_text(json.dumps(timing))
    return tmp_path


def test_write_then_check_round_trip(tmp_path, monkeypatch):
    """--write fills blocks and inline figures from the files; the check then passes, and fails on a stale figure."""
    no_op = rt.Figure(
        r"the no-op rerun \((\d+\.\d) s\)", rt.PIPE, lambda d: f"{rt.step(d, 'dvc repro (no-op)')['wall_s']:.1f}"
    )
    monkeypatch.setattr(rt, "FIGURES", [no_op])
    readme = (
        "Intro, the no-op\nrerun (9.9 s).\n\n<!-- table: reports/metrics.json -->\n| stale |\n<!-- /table -->\n"
        "<!-- table: benchmarks/results/regression_benchmark.json -->\nold, file not made yet\n<!-- /table -->\nEnd.\n"
    )
    metrics = {"large_target_loss": {"regmix": 3.3291, "truth": 3.4016}}
    timing = {"steps": [{"label": "dvc repro (no-op)", "wall_s": 1.04}]}
    root = _project(tmp_path, readme, metrics, timing)

    before = {r.what: r.ok for r in rt.check(root)}
    assert before == {
        "table reports/metrics.json": False,
        "table benchmarks/results/regression_benchmark.json": None,
        f"figure {no_op.pattern!r} ({rt.PIPE})": False,
    }
    skipped = rt.regenerate(root)
    assert skipped == [rt.missing("benchmarks/results/regression_benchmark.json")]
    text = (root / "README.md").read_text()
    assert "the no-op\nrerun (1.0 s)." in text  # the phrase's line break is kept
    assert "| RegMix | 3.329 |\n| w* (the target's true mixture) | 3.402 |\n<!-- /table -->" in text
    assert "old, file not made yet" in text and text.endswith("End.\n")
    assert [r.ok for r in rt.check(root)] == [True, None, True]

    timing["steps"][0]["wall_s"] = 2.0  # a rerun of the benchmark without regenerating README.md
    _project(tmp_path / "rerun", text, metrics, timing)
    results = rt.check(tmp_path / "rerun")
    assert results[-1].ok is False and "('1.0',)" in results[-1].message and "('2.0',)" in results[-1].message


def test_reworded_phrase_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "FIGURES", [rt.Figure(r"took (\d) s", rt.PIPE, lambda d: "1")])
    root = _project(tmp_path, "it ran in 1 s\n", None, None)
    (result,) = rt.check(root)
    assert result.ok is False and "no longer has this phrase" in result.message


def _bash_blocks(text: str) -> list[str]:
    return [b.split("```", 1)[0].strip() for b in text.split("```bash\n")[1:]]


def _pipeline_timing():
    spec = importlib.util.spec_from_file_location("pipeline_timing", REPO / "benchmarks" / "pipeline_timing.py")
    sys.path.insert(0, str(REPO / "benchmarks"))  # pipeline_timing imports its sibling provenance.py
    try:
        timing = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(timing)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return timing


def test_readme_commands_are_what_ci_and_the_timing_benchmark_run():
    # the two set-up commands are the first two bash blocks; a changed install must change all three places
    main, tests = _bash_blocks(README)[:2]
    timing = _pipeline_timing()
    assert main == f"python3 -m venv .venv && . .venv/bin/activate && {timing.INSTALL} && dvc repro"
    assert tests == (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    dev_install = timing.INSTALL.replace("requirements.txt", "requirements-dev.txt")
    assert tests.startswith(f"python3 -m venv .venv && . .venv/bin/activate && {dev_install} && ")


def test_proxy_latency_counts_from_the_stage_start_and_skips_older_files(tmp_path):
    # shard 0 (indices 1-4) started at t=100: proxies done at 112, 115, 118, 121 (a gap of 3 s, 2 workers: 6 s
    # per proxy per worker), so the first one came 12 s in, 6 s beyond a typical proxy; a file of an earlier
    # run (t=50) and a shard whose stage did not run are not counted
    done = {1: 112, 2: 115, 3: 118, 4: 121, 5: 50, 6: 130, 7: 133, 8: 136}
    for index, t in done.items():
        path = tmp_path / f"proxy-{index}-{index:04x}abc.json"
        path.write_text("{}")
        os.utime(path, (t, t))
    (tmp_path / "proxy-2-old.json").write_text("{}")
    os.utime(tmp_path / "proxy-2-old.json", (50, 50))
    latency = _pipeline_timing().proxy_latency(tmp_path, {"proxies@0": 100.0}, shard_size=4, workers=2)
    assert latency == {"proxies@0": {"first_s": 12.0, "per_worker_s": 6.0, "first_excess_s": 6.0}}
