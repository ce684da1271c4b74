from mlflow.tracking import MlflowClient

from regmix.tracking import Tracker, project_root, result_metrics, tracking_uri


def test_project_root_outside_queued_experiment_copies(tmp_path):
    inside = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpabc123"
    inside.mkdir(parents=True)
    assert project_root(inside) == (tmp_path / "proj").resolve()
    assert project_root(tmp_path / "proj") == (tmp_path / "proj").resolve()


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    inside = tmp_path / ".dvc" / "tmp" / "exps" / "tmpx"
    inside.mkdir(parents=True)
    assert tracking_uri("sqlite:///mlflow.db", inside) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking_uri("sqlite:////abs/m.db", inside) == "sqlite:////abs/m.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri("sqlite:///mlflow.db", inside) == "http://127.0.0.1:5000"


def test_nested_runs_in_a_real_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    t = Tracker(uri, "exp")
    parent, existed = t.find_or_create("sweep", "k1", {"regmix.kind": "sweep"})
    assert not existed and t.find_or_create("sweep", "k1", {})[0] == parent
    child, _ = t.find_or_create("proxy-1", "k2", {}, parent=parent)
    result = {"train_loss": [(5, 3.0), (10, 2.5)], "val_loss": [(10, {"web": 2.7, "target": 2.9})]}
    t.log(child, params={"weight": {"web": 0.25}, "model": {"n_layer": 2}}, metrics=result_metrics(result))
    t.finish(child)
    client = MlflowClient(uri)
    run = client.get_run(child)
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.data.params == {"weight.web": "0.25", "model.n_layer": "2"}
    assert [m.value for m in client.get_metric_history(child, "train_loss")] == [3.0, 2.5]
    assert run.data.metrics["val_loss/target"] == 2.9 and run.info.status == "FINISHED"
