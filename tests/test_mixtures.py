import numpy as np
import pytest

from regmix.config.mixtures import MixtureConfig
from regmix.errors import InputError
from regmix.formats import mixture_rows, read_mixture_yaml, read_mixtures_csv, write_mixture_yaml, write_mixtures_csv
from regmix.mixtures.sampling import (
    check_caps_feasible,
    check_usage,
    sample_candidates,
    sample_mixtures,
    sample_validation_mixtures,
    usage_caps,
)

PRIOR = {"a": 0.6, "b": 0.25, "c": 0.1, "d": 0.05}


def test_prefix_stable_and_deduplicated():
    cfg = MixtureConfig()
    first = sample_mixtures(PRIOR, 20, cfg, seed=3)
    more = sample_mixtures(PRIOR, 40, cfg, seed=3)
    assert more[:20] == first
    keys = {tuple(m.values()) for m in more}
    assert len(keys) == 40
    for m in more:
        assert abs(sum(m.values()) - 1) < 1e-9 and min(m.values()) >= 0
        assert all(round(w, 3) == w for w in m.values())
    assert sample_mixtures(PRIOR, 20, cfg, seed=4) != first


def test_validation_mixtures_are_held_out_draws_of_the_same_sampler():
    cfg, caps = MixtureConfig(), {"a": 0.7, "b": 1.0, "c": 1.0, "d": 1.0}
    proxies = sample_mixtures(PRIOR, 200, cfg, seed=3, caps=caps)
    held = sample_validation_mixtures(PRIOR, list(range(30)), cfg, seed=3, caps=caps, exclude=proxies)
    assert set(held) == set(range(30)) and not any(m in proxies for m in held.values())
    # without the exclusion some draws are a proxy's (the sparse draws of small strengths: one-hot mixtures)
    free = sample_validation_mixtures(PRIOR, list(range(30)), cfg, seed=3, caps=caps)
    assert any(m in proxies for m in free.values()) and [held[i] for i in held if free[i] not in proxies] == [
        free[i] for i in free if free[i] not in proxies
    ]
    # id i depends only on the seed and i: other ids leave it unchanged
    assert sample_validation_mixtures(PRIOR, [7, 2], cfg, seed=3, caps=caps, exclude=proxies)[2] == held[2]
    assert sample_validation_mixtures(PRIOR, [2], cfg, seed=4, caps=caps, exclude=proxies)[2] != held[2]
    for m in held.values():
        assert abs(sum(m.values()) - 1) < 1e-9 and m["a"] <= 0.7 + 1e-9 and all(round(w, 3) == w for w in m.values())
    # the same distribution as the proxies': the mean weight of a domain over many draws agrees
    many = sample_validation_mixtures(PRIOR, list(range(400)), cfg, seed=3)
    mean_held = np.mean([m["a"] for m in many.values()])
    mean_proxy = np.mean([m["a"] for m in sample_mixtures(PRIOR, 400, cfg, seed=3)])
    assert abs(mean_held - mean_proxy) < 0.06 and abs(mean_held - 0.6) < 0.06


def test_caps_respected_and_min_weight():
    caps = usage_caps({"a": 100, "b": 100, "c": 100, "d": 1000}, train_tokens=1000, max_epochs=4)
    assert caps == {"a": 0.4, "b": 0.4, "c": 0.4, "d": 1.0}
    mixes = sample_mixtures(PRIOR, 50, MixtureConfig(min_weight=0.01), seed=0, caps=caps)
    for m in mixes:
        assert all(m[d] <= caps[d] + 1e-9 for d in m)
        assert all(w == 0 or w >= 0.009 for w in m.values())  # zeroed below min_weight (then rounded)


def test_infeasible_caps_are_a_clear_error():
    counts = {"a": 10, "b": 10}
    caps = usage_caps(counts, train_tokens=1000, max_epochs=2)
    with pytest.raises(InputError, match="too few"):
        check_caps_feasible(caps, counts, 1000, "params.yaml")


def test_candidates_within_caps():
    caps = {"a": 0.5, "b": 1.0, "c": 1.0, "d": 1.0}
    w = sample_candidates(PRIOR, 5000, MixtureConfig(), seed=0, caps=caps)
    assert 0 < len(w) <= 5000
    assert np.allclose(w.sum(axis=1), 1) and (w[:, 0] <= 0.5 + 1e-9).all()


def test_csv_and_yaml_round_trip(tmp_path):
    mixes = sample_mixtures(PRIOR, 5, MixtureConfig(), seed=0)
    write_mixtures_csv(tmp_path / "m.csv", mixes, list(PRIOR), start_index=11)
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "index,train_a,train_b,train_c,train_d"
    back = mixture_rows(read_mixtures_csv(tmp_path / "m.csv", list(PRIOR)))
    assert list(back) == [11, 12, 13, 14, 15] and back[11] == mixes[0]
    write_mixture_yaml(tmp_path / "m.yaml", mixes[0], target="t")
    assert read_mixture_yaml(tmp_path / "m.yaml", list(PRIOR)) == pytest.approx(mixes[0])


def test_bad_weights_name_file_field_and_value(tmp_path):
    (tmp_path / "neg.yaml").write_text("train:\n  train_a: 0.5\n  train_b: -0.2\n")
    with pytest.raises(InputError) as e:
        read_mixture_yaml(tmp_path / "neg.yaml", list(PRIOR))
    assert "neg.yaml" in str(e.value) and "'b'" in str(e.value) and "-0.2" in str(e.value)
    (tmp_path / "unk.yaml").write_text("train:\n  train_a: 0.5\n  train_zzz: 0.5\n")
    with pytest.raises(InputError, match="unknown domain 'zzz'"):
        read_mixture_yaml(tmp_path / "unk.yaml", list(PRIOR))
    (tmp_path / "bad.csv").write_text("index,train_a,train_b\n1,0.5,abc\n")
    with pytest.raises(InputError, match=r"bad.csv, column 'train_b', index 1: value 'abc'"):
        read_mixtures_csv(tmp_path / "bad.csv", ["a", "b"])


def test_usage_over_max_epochs_is_a_clear_error():
    with pytest.raises(InputError, match=r"field 'b'.*holds 100 tokens"):
        check_usage({"a": 0.5, "b": 0.5}, {"a": 10_000, "b": 100}, train_tokens=1000, max_epochs=4, where="mix.yaml")
    check_usage({"a": 0.5, "b": 0.5}, {"a": 10_000, "b": 200}, train_tokens=1000, max_epochs=4, where="mix.yaml")
