import json

import numpy as np
import pytest
from conftest import tiny_synthetic

from regmix.config.data import HFSource, SyntheticConfig
from regmix.config.params import build
from regmix.data.hf import load_hf
from regmix.data.local import copy_local
from regmix.data.synthetic import exact_counts, generate
from regmix.errors import InputError
from regmix.layout import domain_name, read_texts, scan_layout, validate_layout


def test_synthetic_is_deterministic_and_has_the_target():
    a = generate(tiny_synthetic(seed=1))
    assert a == generate(tiny_synthetic(seed=1))
    assert generate(tiny_synthetic(seed=2))["train"] != a["train"]
    assert set(a["train"]) == {"alpha", "beta", "gamma"}
    assert set(a["valid"]) == set(a["test"]) == {"alpha", "beta", "gamma", "target"}
    assert len(a["train"]["alpha"]) == 60 and all(a["valid"]["target"]) and len(a["test"]["target"]) == 10


def test_exact_counts_follow_the_weights():
    assert exact_counts(np.array([0.4, 0.25, 0.2, 0.15]), 300).tolist() == [120, 75, 60, 45]
    assert exact_counts(np.array([0.7, 0.3, 0.0]), 10).tolist() == [7, 3, 0]
    assert exact_counts(np.array([1, 1, 1]), 10).tolist() == [4, 3, 3]  # the remainder goes to the first largest


def test_target_documents_are_drawn_in_the_proportions_of_w_star_and_test_is_disjoint():
    from dataclasses import replace

    cfg = replace(tiny_synthetic(), valid_docs=40, test_docs=40, own_fraction=0.0)
    splits = generate(cfg)
    # a target document is a fresh sample of a domain's chain: its source is the domain whose words it uses
    words = {d: {w for doc in docs for w in doc.split()} for d, docs in splits["train"].items()}

    def source(doc: str) -> str:
        return max(words, key=lambda d: len(set(doc.split()) & words[d]) / len(set(doc.split())))

    for split in ("valid", "test"):
        counts = {d: 0 for d in words}
        for doc in splits[split]["target"]:
            counts[source(doc)] += 1
        # w* = alpha 0.7, gamma 0.3 of 40 documents (alpha and beta share a cluster: beta's words are alpha's too)
        assert counts["gamma"] == 12 and counts["alpha"] + counts["beta"] == 28, counts
    assert not set(splits["valid"]["target"]) & set(splits["test"]["target"])
    assert not set(splits["valid"]["alpha"]) & set(splits["test"]["alpha"])


def test_domains_share_function_words_but_not_own_words():
    train = generate(tiny_synthetic())["train"]
    vocab = {d: {w for doc in docs for w in doc.split()} for d, docs in train.items()}
    # alpha and beta share a cluster; gamma is in another one
    assert len(vocab["alpha"] & vocab["beta"]) > len(vocab["alpha"] & vocab["gamma"]) > 0


def test_a_common_language_reaches_every_domain():
    from dataclasses import replace

    plain = generate(tiny_synthetic())
    common = generate(replace(tiny_synthetic(), common_share=0.3, common_words=20))

    def content_words_in_every_domain(splits):  # function words have one syllable (2 letters)
        return {
            w
            for w in set.intersection(*({w for d in docs for w in d.split()} for docs in splits.values()))
            if len(w) > 2
        }

    assert content_words_in_every_domain(plain["train"]) == set()  # across clusters, only function words
    shared = content_words_in_every_domain(common["train"])
    assert len(shared) == 20  # the common words, in all three domains of two clusters
    for name, docs in common["train"].items():
        words = [w for d in docs for w in d.split()]
        assert 0.1 < np.mean([w in shared for w in words]) < 0.25, name  # about 0.15 at share 0.3
        assert [len(d.split()) for d in docs] == [len(d.split()) for d in plain["train"][name]]  # same documents


def test_bad_synthetic_config():
    with pytest.raises(InputError, match="domains.synthetic.target_weights.nope: value 1.0 is the weight of 'nope'"):
        build(SyntheticConfig, {"target_weights": {"nope": 1.0}}, "domains.synthetic")


def test_layout_round_trip(layout_dir):
    layout = scan_layout(layout_dir)
    assert layout.train_domains == ["alpha", "beta", "gamma"]
    assert layout.eval_domains == ["alpha", "beta", "gamma", "target"]
    assert [p.name for p in layout.files["train"]["alpha"]] == ["alpha-0.jsonl", "alpha-1.jsonl", "alpha-2.jsonl"]
    assert validate_layout(layout)["train"]["alpha"] == 60
    assert json.loads((layout_dir / "meta.json").read_text())["true_mixture"]["alpha"] == pytest.approx(0.7)


def _layout(root, train_lines, valid_lines=('{"text": "ok"}',)):
    (root / "train").mkdir(parents=True)
    (root / "valid").mkdir()
    (root / "train" / "web-0.jsonl").write_text("\n".join(train_lines) + "\n")
    (root / "valid" / "web-0.jsonl").write_text("\n".join(valid_lines) + "\n")
    return root


def test_line_that_is_not_json(tmp_path):
    root = _layout(tmp_path / "d", ['{"text": "fine"}', "{not json"])
    with pytest.raises(InputError) as e:
        validate_layout(scan_layout(root))
    assert "web-0.jsonl, line 2" in str(e.value) and "not valid JSON" in str(e.value) and "{not json" in str(e.value)


def test_line_without_text(tmp_path):
    root = _layout(tmp_path / "d", ['{"content": "x"}'])
    with pytest.raises(InputError, match=r"web-0.jsonl, line 1, field 'text'"):
        list(read_texts(root / "train" / "web-0.jsonl"))


def test_empty_domain(tmp_path):
    root = _layout(tmp_path / "d", ['{"text": "  "}'])
    with pytest.raises(InputError, match="domain 'web' has no non-empty text"):
        validate_layout(scan_layout(root))


def test_bad_file_name_and_missing_valid(tmp_path):
    root = _layout(tmp_path / "d", ['{"text": "a"}'])
    (root / "train" / "README.txt").write_text("x")
    with pytest.raises(InputError, match="README.txt"):
        scan_layout(root)
    (root / "train" / "README.txt").unlink()
    (root / "train" / "code-0-123.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(InputError, match=r"no validation file.*code"):
        scan_layout(root)


def test_copy_local(tmp_path, layout_dir):
    meta = copy_local(layout_dir, tmp_path / "out", "target")
    assert meta["train_domains"] == ["alpha", "beta", "gamma"]
    assert (tmp_path / "out" / "train" / "alpha-0.jsonl").read_text() == (
        layout_dir / "train" / "alpha-0.jsonl"
    ).read_text()
    with pytest.raises(InputError, match="domains.target"):
        copy_local(layout_dir, tmp_path / "out2", "nope")


def test_hf_dataset_from_a_local_directory(tmp_path):
    """A real `datasets.load_dataset` call on a small local dataset (no hub access here)."""
    src = tmp_path / "hf"
    src.mkdir()
    rows = {
        "train": [("Pile-CC", "web text"), ("ArXiv", "a paper"), ("Pile-CC", "more web")],
        "validation": [("Pile-CC", "v web"), ("ArXiv", "v paper")],
    }
    for split, items in rows.items():
        with open(src / f"{split}.jsonl", "w") as f:
            for dom, text in items:
                f.write(json.dumps({"text": text, "meta": {"pile_set_name": dom}}) + "\n")
    # the "json" builder with data_files loads local JSONL; the same code takes a hub name as path
    cfg = HFSource(
        path="json", data_files={s: str(src / f"{s}.jsonl") for s in rows}, domain_field="meta.pile_set_name"
    )
    meta = load_hf(cfg, tmp_path / "out", "pile_cc")
    assert meta["train_domains"] == ["arxiv", "pile_cc"]
    layout = scan_layout(tmp_path / "out")
    assert validate_layout(layout)["train"] == {"arxiv": 1, "pile_cc": 2}
    assert domain_name("Pile-CC") == "pile_cc"
