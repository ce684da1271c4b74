"""The proxy sweep on a real local Ray cluster (2 CPUs): same results, cache and callbacks as the local executor."""

import subprocess
import sys

import pytest

ray = pytest.importorskip("ray")

from test_sweep import _jobs  # noqa: E402  (the same two tiny proxies as the local executor's tests)

from regmix.config.sweep import RayConfig, SweepParams
from regmix.proxy.jobs import ProxyFailed, train_proxy
from regmix.proxy.local import run_jobs
from regmix.proxy.ray_executor import run_jobs_ray
from regmix.proxy.sweep import run_sweep


def _losses(results):
    return {i: (r["train_loss"], r["val_loss"], r["tokens_seen"]) for i, r in results.items()}  # all but the timing


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_sweep_equals_local_sweep_and_resumes(tokens_dir, tmp_path, cluster):
    jobs = _jobs(tokens_dir)
    local = run_jobs(jobs, tmp_path / "local", workers=2)
    seen = []
    remote = run_jobs_ray(
        jobs, tmp_path / "ray", RayConfig(), on_result=lambda j, r, cached: seen.append((j.index, cached))
    )
    assert _losses(remote) == _losses(local)  # bit-identical losses, whichever executor trained them
    assert sorted(seen) == [(1, False), (2, False)]  # on_result ran here, in the driver, for each proxy
    assert sorted(p.name.split("-")[1] for p in (tmp_path / "ray").glob("proxy-*.json")) == ["1", "2"]
    # the same cache as the local executor: the local run's cache serves a Ray sweep, and back
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(
        p.name for p in (tmp_path / "local").iterdir()
    )
    seen.clear()
    again = run_sweep(
        jobs, tmp_path / "ray", SweepParams(executor="ray"), lambda j, r, cached: seen.append((j.index, cached))
    )
    assert sorted(seen) == [(1, True), (2, True)] and again == remote


def test_a_failed_task_is_retried(tokens_dir, tmp_path, cluster):
    attempts = tmp_path / "attempts.log"

    def fails_first(job):  # a real failure: the first attempt raises, Ray runs the task again
        first = not attempts.exists()
        with open(attempts, "a") as f:
            f.write(f"{job.index}\n")
        if first:
            raise RuntimeError("first attempt fails")
        return train_proxy(job)

    job = _jobs(tokens_dir)[1]
    result = run_jobs_ray([job], tmp_path / "cache", RayConfig(max_retries=2), task=fails_first)
    assert attempts.read_text().split() == ["2", "2"]
    assert _losses(result) == _losses({2: train_proxy(job)[1]})


def test_a_task_failing_every_retry_fails_the_sweep_but_the_others_are_cached(tokens_dir, tmp_path, cluster):
    attempts = tmp_path / "attempts.log"

    def proxy_2_always_fails(job):
        with open(attempts, "a") as f:
            f.write(f"{job.index}\n")
        if job.index == 2:
            raise RuntimeError("proxy 2 is broken")
        return train_proxy(job)

    with pytest.raises(ProxyFailed, match=r"1 of 2 proxies failed \(indices \[2\]\).*proxy 2 is broken"):
        run_jobs_ray(_jobs(tokens_dir), tmp_path / "cache", RayConfig(max_retries=1), task=proxy_2_always_fails)
    assert sorted(attempts.read_text().split()) == ["1", "2", "2"]  # proxy 2: first try and one retry
    assert [p.name.split("-")[1] for p in (tmp_path / "cache").glob("proxy-*.json")] == ["1"]


def test_address_from_params_then_environment(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert RayConfig().resolved_address() is None  # a local cluster
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert RayConfig().resolved_address() == "ray://head:10001"
    assert RayConfig(address="auto").resolved_address() == "auto"


def test_local_executor_does_not_import_ray():
    code = "import sys, regmix.config.params, regmix.proxy.sweep; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
