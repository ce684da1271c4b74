import pytest

from regmix.config.training import ModelConfig, TrainConfig
from regmix.errors import InputError
from regmix.formats import curves_csv, losses_csv, merge_csvs
from regmix.proxy.jobs import ProxyJob
from regmix.proxy.local import run_jobs
from regmix.token_store import TokenStore

TINY = ModelConfig(n_layer=1, n_head=2, n_embd=32, intermediate_size=64, block_size=32)
CFG = TrainConfig(tokens=32 * 8 * 6, batch_size=8, warmup_steps=2, eval_every=3, eval_tokens=128)


def _jobs(tokens_dir):
    store = TokenStore(tokens_dir)
    mixes = {1: {"alpha": 1.0, "beta": 0.0, "gamma": 0.0}, 2: {"alpha": 0.2, "beta": 0.3, "gamma": 0.5}}
    return [ProxyJob(i, m, str(tokens_dir), TINY, CFG, tuple(store.eval_domains)) for i, m in mixes.items()]


def test_parallel_sweep_resumes_from_its_cache(tokens_dir, tmp_path):
    seen = []
    results = run_jobs(
        _jobs(tokens_dir), tmp_path / "cache", workers=2, on_result=lambda j, r, cached: seen.append((j.index, cached))
    )
    assert sorted(seen) == [(1, False), (2, False)]
    assert len(list((tmp_path / "cache").glob("proxy-*.json"))) == 2
    # a rerun (e.g. after the stage was killed) trains nothing: results come back identical from the cache
    seen.clear()
    again = run_jobs(
        _jobs(tokens_dir), tmp_path / "cache", workers=2, on_result=lambda j, r, cached: seen.append((j.index, cached))
    )
    assert sorted(seen) == [(1, True), (2, True)] and again == results

    csv = losses_csv(results, ["alpha", "target"]).splitlines()
    assert csv[0] == "index,metric/alpha_val_loss,metric/target_val_loss"
    assert [r.split(",")[0] for r in csv[1:]] == ["1", "2"]
    assert float(csv[1].split(",")[1]) == results[1]["val_loss"][-1][1]["alpha"]
    assert curves_csv(results, ["alpha"]).splitlines()[1].startswith("1,3,")


def test_same_job_in_a_worker_matches_in_process(tokens_dir, tmp_path):
    from regmix.proxy.jobs import train_proxy

    job = _jobs(tokens_dir)[1]
    _, local = train_proxy(job)
    remote = run_jobs([job], tmp_path / "c", workers=1)[2]
    assert local["val_loss"] == remote["val_loss"]


def test_merge_shard_csvs_keeps_values_and_orders_rows(tmp_path):
    (tmp_path / "a.csv").write_text("index,step,x\n10,2,0.30000000000000004\n10,1,1e-05\n")
    (tmp_path / "b.csv").write_text("index,step,x\n2,1,7.0\n")
    merged = merge_csvs([tmp_path / "a.csv", tmp_path / "b.csv"])
    assert merged == "index,step,x\n2,1,7.0\n10,1,1e-05\n10,2,0.30000000000000004\n"
    (tmp_path / "c.csv").write_text("index,y\n3,1.0\n")
    with pytest.raises(InputError, match="differs"):
        merge_csvs([tmp_path / "a.csv", tmp_path / "c.csv"])
