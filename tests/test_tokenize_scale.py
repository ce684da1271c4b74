"""Tokenization at scale: streaming with bounded memory, worker and executor invariance, resume after a kill,
per-domain DVC stages, and the raw Pile's `.jsonl.zst` shards."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml
import zstandard
from conftest import REPO

from regmix.config.data import PileSource, TokenizeParams, TokenizerConfig
from regmix.data.pile import load_pile
from regmix.errors import InputError
from regmix.layout import LayoutWriter, index_layout, read_texts, scan_layout, write_layout
from regmix.token_store import TokenStore
from regmix.tokenization import encode
from regmix.tokenization.encode import encode_domains, encode_file
from regmix.tokenization.run import tokenize_layout
from regmix.tokenization.tokenizer import train_bpe

EOT = "<|endoftext|>"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _words(n_docs: int, seed: int, words: int = 80) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}x" for i in range(300)]
    return [" ".join(rng.choice(vocab, size=words)) for _ in range(n_docs)]


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_bpe(_words(200, 0), 300).save(str(path))
    return path


def test_streaming_memory_does_not_grow_with_the_file(small_tokenizer, tmp_path):
    """Files of 0.8 and 2.5 MB encoded in 32 KB batches: the same peak allocation, a fraction of the output's size.

    (tracemalloc sees numpy's and Python's allocations, the ones the old all-in-memory encoder grew
    with the corpus; the Rust tokenizer's are bounded by the batch. The benchmark measures RSS.)
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(small_tokenizer))
    peaks, sizes = [], []
    for docs in (2000, 6000):
        src = tmp_path / f"web-{docs}.jsonl"
        src.write_text("".join(json.dumps({"text": t}) + "\n" for t in _words(docs, 1)))
        tracemalloc.start()
        n, _ = encode_file(tok, src, tmp_path / "out.npy", 0, batch_size=1000, batch_bytes=32 << 10)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        out = np.load(tmp_path / "out.npy", mmap_mode="r")
        assert len(out) == n and (out == 0).sum() == docs  # one EOS per document
        sizes.append(out.nbytes)
    assert sizes[1] > 2_000_000 and peaks[1] < sizes[1] / 3, (peaks, sizes)
    assert peaks[1] < 1.2 * peaks[0], (peaks, sizes)  # three times the file, not more memory


def test_same_bytes_whatever_the_workers_or_executor(layout_dir, tmp_path, monkeypatch):
    """1 worker, 2 workers and Ray tasks on a local 2-CPU cluster write byte-identical token data."""
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(encode, "POOL_MIN_BYTES", 0)  # a pool of 2 workers even for these few bytes
    domains = ["alpha", "beta", "gamma", "target"]
    trees = {}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name, params in {
            "1": TokenizeParams(domains=domains, workers=1),
            "2": TokenizeParams(domains=domains, workers=2),
            "ray": TokenizeParams(domains=domains, executor="ray"),
        }.items():
            tokenize_layout(layout_dir, tmp_path / name / "tokens", TokenizerConfig(vocab_size=300), "target", params)
            trees[name] = _tree(tmp_path / name / "tokens")
    finally:
        ray.shutdown()
    assert trees["1"] == trees["2"] == trees["ray"]
    assert sum(k.endswith(".npy") for k in trees["1"]) == 11  # one chunk per input file (7 train, 4 valid)


def _many_files(root: Path, n_files: int = 24) -> Path:
    write_layout(
        root, {"train": {"web": _words(n_files * 150, 2)}, "valid": {"web": _words(20, 3)}}, {}, docs_per_file=150
    )
    index_layout(root)
    return root


def test_a_killed_run_resumes_from_its_finished_files(small_tokenizer, tmp_path, monkeypatch):
    """SIGKILL the encode stage part-way; the rerun encodes only the files left and writes what a clean run writes."""
    domains = _many_files(tmp_path / "domains")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"tokenize": {"domains": ["web"], "workers": 1}}))
    cache = tmp_path / "cache"
    cmd = [sys.executable, str(REPO / "stages/encode_domain.py"), "--domain", "web", "--domains", str(domains)]
    cmd += ["--tokenizer", str(small_tokenizer), "--out-dir", str(tmp_path / "encoded"), "--cache", str(cache)]
    env = {**os.environ, "REGMIX_PARAMS": str(tmp_path / "params.yaml"), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while len(list(cache.glob("*.json"))) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the stage and its worker processes
    proc.wait()
    finished = {p.stem: p.stat().st_mtime_ns for p in cache.glob("*.json")}
    assert proc.returncode == -signal.SIGKILL and 3 <= len(finished) < 25, proc.stderr.read()[-2000:]
    assert not (tmp_path / "encoded" / "web").exists()  # the domain's output is written only once complete

    params = TokenizeParams(domains=["web"], workers=2)
    monkeypatch.setattr(encode, "POOL_MIN_BYTES", 0)  # the rerun in a pool of 2 workers
    index = {"web": json.loads((domains / "index/web.json").read_text())}
    done = encode_domains(domains, index, small_tokenizer, tmp_path / "encoded", cache, "<|endoftext|>", params)
    assert done == {"encoded": 25 - len(finished), "reused": len(finished)}
    assert all((cache / f"{k}.json").stat().st_mtime_ns == t for k, t in finished.items())  # not redone
    clean = encode_domains(
        domains, index, small_tokenizer, tmp_path / "clean", tmp_path / "cache2", "<|endoftext|>", params
    )
    assert clean == {"encoded": 25, "reused": 0}
    assert _tree(tmp_path / "encoded") == _tree(tmp_path / "clean")


def _one_big_file(root: Path) -> tuple[Path, dict]:
    write_layout(root, {"train": {"web": _words(1500, 4)}, "valid": {"web": _words(10, 5)}}, {}, docs_per_file=1500)
    index_layout(root)
    return root, {"web": json.loads((root / "index/web.json").read_text())}


def test_line_ranges_cut_a_file_at_line_starts_and_read_each_line_once(tmp_path):
    domains, _ = _one_big_file(tmp_path / "domains")
    path = domains / "train/web-0.jsonl"
    data = path.read_bytes()
    ranges = encode.line_ranges(path, 40_000)
    assert len(ranges) == len(data) // 40_000 + 1 or len(ranges) == len(data) // 40_000  # about 40 KB each
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a == b for (_, a), (b, _) in zip(ranges, ranges[1:], strict=False))  # contiguous
    assert all(data[a - 1 : a] == b"\n" and a >= 40_000 * i for i, (a, _) in enumerate(ranges) if i)
    assert [t for a, b in ranges for t in read_texts(path, a, b)] == list(read_texts(path))


def test_a_bad_line_in_a_later_part_is_named_by_its_line_number(tmp_path):
    path = tmp_path / "web.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in _words(300, 6)) + "{oops\n")
    start, end = encode.line_ranges(path, 20_000)[-1]
    assert start > 0
    with pytest.raises(InputError, match=r"web\.jsonl, line 301: not valid JSON"):
        list(read_texts(path, start, end))


def test_a_file_in_many_parts_gives_the_bytes_of_one_part(small_tokenizer, tmp_path, monkeypatch):
    """A 700 KB file cut in 30 KB parts, by 1 and 2 workers: the chunk of the file read whole; no part left over."""
    domains, index = _one_big_file(tmp_path / "domains")
    monkeypatch.setattr(encode, "POOL_MIN_BYTES", 0)
    trees = {}
    for name, workers, part in (("whole", 1, 1 << 30), ("parts-1", 1, 30_000), ("parts-2", 2, 30_000)):
        params = TokenizeParams(domains=["web"], workers=workers)
        cache = tmp_path / name / "cache"
        encode_domains(domains, index, small_tokenizer, tmp_path / name / "out", cache, EOT, params, part_bytes=part)
        trees[name] = _tree(tmp_path / name / "out")
        assert not list(cache.glob("parts/*"))  # concatenated and removed
    assert trees["whole"] == trees["parts-1"] == trees["parts-2"]
    assert len(encode.line_ranges(domains / "train/web-0.jsonl", 30_000)) > 20


def test_finished_parts_are_kept_across_a_kill(small_tokenizer, tmp_path, monkeypatch):
    """Parts finished before a kill are not encoded again; all parts finished but not concatenated: none encoded."""
    domains, index = _one_big_file(tmp_path / "domains")
    params, cache = TokenizeParams(domains=["web"], workers=1), tmp_path / "cache"
    encode_domains(domains, index, small_tokenizer, tmp_path / "clean", tmp_path / "c0", EOT, params, part_bytes=30_000)
    done = []
    monkeypatch.setattr(encode, "_concatenate", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))  # the kill
    with pytest.raises(KeyboardInterrupt):
        encode_domains(domains, index, small_tokenizer, tmp_path / "out", cache, EOT, params, part_bytes=30_000)
    monkeypatch.undo()
    finished = {p.name: p.stat().st_mtime_ns for p in (cache / "parts").glob("*.json")}
    parts = len(encode.line_ranges(domains / "train/web-0.jsonl", 30_000))
    assert len(finished) == parts  # the kill came after the last part, before the concatenation
    for name in sorted(finished)[: parts // 2]:  # as if the kill had come half-way: half the parts not finished
        (cache / "parts" / name).unlink()
    monkeypatch.setattr(encode, "encode_task", lambda job, f=encode.encode_task: done.append(job) or f(job))
    out = encode_domains(domains, index, small_tokenizer, tmp_path / "out", cache, EOT, params, part_bytes=30_000)
    assert out == {"encoded": 1, "reused": 1}  # the train file's chunk is made; the valid file's was finished
    assert len(done) == parts // 2 and all(not j.whole for j in done)
    assert _tree(tmp_path / "out") == _tree(tmp_path / "clean")


def _dvc(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DVC_ROOT"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(root / "src")
    p = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=root, capture_output=True, text=True, env=env
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def test_changing_one_domain_reruns_only_its_stage(small_tokenizer, tmp_path):
    """Real DVC on the domains and tokenize stages: one domain's new files rerun encode@<that domain> alone."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dvc.yaml", "stages", "src", ".dvc", ".gitignore", "pyproject.toml"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["domains"]["synthetic"].update(
        domains={n: {"cluster": c, "train_docs": 40} for n, c in (("web", 0), ("wiki", 0), ("code", 1))},
        target_weights={"wiki": 0.7, "code": 0.3},
        valid_docs=8,
        test_docs=8,
    )
    params["tokenizer"]["path"] = str(small_tokenizer)  # a given tokenizer: it does not change with the data
    params["tokenize"].update(domains=["web", "wiki", "code", "target"], workers=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], git + ["commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=root, check=True)

    ran = lambda out: set(re.findall(r"Running stage '([^']+)'", out))  # noqa: E731
    first = ran(_dvc(root, "repro", "tokenize"))
    assert first == {"domains", "tokenizer", "encode@web", "encode@wiki", "encode@code", "encode@target", "tokenize"}
    before = TokenStore(root / "data/tokens")

    params["domains"]["synthetic"]["domains"]["code"]["train_docs"] = 50  # only code's files change
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(_dvc(root, "repro", "tokenize")) == {"domains", "tokenizer", "encode@code", "tokenize"}
    after = TokenStore(root / "data/tokens")
    assert after.counts["train"]["web"] == before.counts["train"]["web"]
    assert after.counts["train"]["code"] > before.counts["train"]["code"]
    assert after.fingerprint != before.fingerprint
    assert ran(_dvc(root, "repro", "tokenize")) == set()


def _zst(path: Path, rows: list[dict]) -> None:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(data))


def test_pile_shards_split_by_set_name_in_one_pass(tmp_path, small_tokenizer):
    """Pile-shaped `.jsonl.zst` shards (and a plain `.jsonl`) become the paper's layout, names normalised."""
    pile = tmp_path / "pile"
    (pile / "train").mkdir(parents=True)
    row = lambda text, name: {"text": text, "meta": {"pile_set_name": name}}  # noqa: E731
    _zst(
        pile / "train/00.jsonl.zst",
        [row("cc one", "Pile-CC"), row("def f(): pass", "Github"), row("cc two", "Pile-CC")],
    )
    _zst(pile / "train/01.jsonl.zst", [row("an arxiv paper", "ArXiv"), row("", "Github"), row("cc three", "Pile-CC")])
    (pile / "val.jsonl").write_text(
        "".join(json.dumps(row(t, n)) + "\n" for t, n in [("v cc", "Pile-CC"), ("v gh", "Github"), ("v ax", "ArXiv")])
    )
    src = PileSource(train=[str(pile / "train/*.jsonl.zst")], valid=[str(pile / "val.jsonl")])
    meta = load_pile(src, tmp_path / "domains", "the_pile_pile_cc", prefix="the_pile_")
    assert meta["train_domains"] == ["the_pile_arxiv", "the_pile_github", "the_pile_pile_cc"]
    layout = scan_layout(tmp_path / "domains")
    assert [p.name for p in layout.files["train"]["the_pile_pile_cc"]] == ["the_pile_pile_cc-0.jsonl"]
    assert list(read_texts(layout.files["train"]["the_pile_pile_cc"][0])) == ["cc one", "cc two", "cc three"]
    assert meta["documents"]["train"]["the_pile_github"] == 1  # the empty document is not counted
    counts = tokenize_layout(
        tmp_path / "domains", tmp_path / "tokens", TokenizerConfig(path=str(small_tokenizer)), "the_pile_pile_cc"
    )
    assert set(counts["valid"]) == {"the_pile_arxiv", "the_pile_github", "the_pile_pile_cc"}

    _zst(pile / "train/01.jsonl.zst", [row("fine", "ArXiv"), {"text": "no meta"}])
    with pytest.raises(InputError, match=r"01.jsonl.zst, line 2, field 'meta.pile_set_name'"):
        load_pile(src, tmp_path / "bad", None)
    (pile / "train/01.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "\xff"}\n'))
    with pytest.raises(InputError, match="line 1.*not UTF-8"):
        load_pile(src, tmp_path / "bad", None)
    with pytest.raises(InputError, match="domains.pile.valid.*matches no file"):
        load_pile(PileSource(train=src.train, valid=[str(pile / "nope*.zst")]), tmp_path / "bad", None)


def test_layout_writer_cuts_files_by_size(tmp_path):
    with LayoutWriter(tmp_path, file_bytes=40) as w:
        for i in range(5):
            w.add("train", "web", f"document number {i}")  # 35 bytes a line: two lines a file
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["web-0.jsonl", "web-1.jsonl", "web-2.jsonl"]
    assert list(read_texts(tmp_path / "train/web-2.jsonl")) == ["document number 4"] and w.counts["train"]["web"] == 5


def test_data_domains_missing_from_the_list_are_an_error(layout_dir, tmp_path):
    with pytest.raises(InputError, match=r"tokenize.domains.*lacks \['gamma', 'target'\]"):
        tokenize_layout(
            layout_dir,
            tmp_path / "t",
            TokenizerConfig(vocab_size=300),
            "target",
            TokenizeParams(domains=["alpha", "beta"]),
        )
