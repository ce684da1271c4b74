import pytest
import yaml
from conftest import REPO

from regmix.config.params import load_params
from regmix.errors import InputError


def _write(tmp_path, mutate):
    doc = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(doc)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_repo_params_load():
    p = load_params(REPO / "params.yaml")
    assert p.sweep.n_proxies >= 48
    assert p.proxy.model.n_layer == 2 and p.large.train.tokens > p.proxy.train.tokens
    assert set(p.large.runs) == {"regmix", "prior", "uniform", "truth"}


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["proxy"]["train"].update(lr="fast"), r"field proxy.train.lr: value 'fast' is not of type float"),
        (
            lambda d: d["proxy"]["train"].update(precision="fp8"),
            r"field proxy.train.precision: value 'fp8' is not supported",
        ),
        (lambda d: d["proxy"]["model"].update(n_layers=2), r"field proxy.model.n_layers: unknown field"),
        (lambda d: d["sweep"].update(shards=[0, 2]), r"field sweep.shards: value \[0, 2\]"),
        (lambda d: d["domains"].update(source="s3"), r"field domains.source: value 's3'"),
        (
            lambda d: d["domains"]["synthetic"]["target_weights"].update(nope=0.1),
            r"field domains.synthetic.target_weights.nope",
        ),
        (
            lambda d: d["mixtures"].update(max_epochs=[1]),
            r"field mixtures.max_epochs: value \[1\] is not of type float",
        ),
        (
            lambda d: d["large"]["train"].update(checkpoint_every=-5),
            r"field large.train.checkpoint_every: value -5 is negative",
        ),
        (
            lambda d: d["proxy"]["train"].update(checkpoint_every=50),
            r"field proxy.train.checkpoint_every: value 50 is set, but proxies never save resume checkpoints",
        ),
    ],
)
def test_bad_values_name_file_field_and_value(tmp_path, mutate, expected):
    with pytest.raises(InputError, match=expected) as e:
        load_params(_write(tmp_path, mutate))
    assert str(tmp_path / "params.yaml") in str(e.value) and "Fix:" in str(e.value)
