"""The shared training loop: a resumed run ends exactly where an uninterrupted one does."""
import pytest
import torch

from core.train import RunMismatchError, RunSettings, fit


def _job(run_dir, epochs, fingerprint=None):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    targets = inputs.sum(-1, keepdim=True)

    def batches(epoch):
        order = torch.randperm(64)
        return [(inputs[rows], targets[rows]) for rows in order.split(16)]

    def batch_loss(model, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y), len(y)

    def evaluate(model):
        return {"val_loss": torch.nn.functional.mse_loss(model(inputs), targets).item()}

    settings = RunSettings(run_dir=run_dir, epochs=epochs, seed=3, quiet=True, best_metric="val_loss", best_mode="min",
                           fingerprint=fingerprint or {"job": "toy"})
    return model, fit(model, optimizer, batches, batch_loss, evaluate, settings)


def test_resume_continues_after_the_last_epoch_and_matches_a_straight_run(tmp_path):
    _, straight = _job(tmp_path / "straight", 4)
    _job(tmp_path / "resumed", 2)
    model, resumed = _job(tmp_path / "resumed", 4)
    assert [record["epoch"] for record in resumed] == [1, 2, 3, 4]
    assert resumed[-1]["train_loss"] == pytest.approx(straight[-1]["train_loss"], rel=1e-6)
    assert resumed[0]["train_loss"] > resumed[-1]["train_loss"]  # it learned
    best = min(resumed, key=lambda record: record["val_loss"])["val_loss"]
    with torch.no_grad():
        x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
        assert torch.nn.functional.mse_loss(model.eval()(x), x.sum(-1, keepdim=True)).item() == pytest.approx(best, rel=1e-5)


def test_a_run_folder_of_another_config_is_not_mixed_in(tmp_path):
    _job(tmp_path / "run", 1)
    with pytest.raises(RunMismatchError):
        _job(tmp_path / "run", 2, fingerprint={"job": "other"})
