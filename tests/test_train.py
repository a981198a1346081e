"""Training: the loss goes down, and a tiny end-to-end run writes its checkpoints and log.

Fake label shards are built here in the documented format (``goodregions.export.labelling``):
blocky texture (strong edges) on one side of a flat, slightly noisy image; a window's
"similarity" is the share of its columns on the texture, so the labels are learnable.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from goodregions.export.models import ModelConfig, build_model  # noqa: E402
from goodregions.export.train import TrainConfig, load_checkpoint, train  # noqa: E402
from goodregions.export.windows import window_boxes  # noqa: E402

THRESHOLD = 0.75
SETTINGS = {"labels": {"window_size": 228, "window_stride": 20, "threshold": THRESHOLD, "prior": "l0"}, "synthesis": {}, "estimator": {}}


def _texture(rng, shape, block=6):
    coarse = rng.random((shape[0] // block + 1, shape[1] // block + 1))
    return np.kron(coarse, np.ones((block, block)))[: shape[0], : shape[1]]


def _fake_image(rng, height=300, width=400):
    """Texture on the left ``edge`` columns (or on the right), flat elsewhere; per-window similarity."""
    edge = int(rng.integers(120, 280))
    image = 0.5 + 0.01 * rng.standard_normal((height, width))
    textured = np.zeros(width, dtype=bool)
    textured[:edge] = True
    if rng.random() < 0.5:
        textured = textured[::-1]
    image[:, textured] = 0.1 + 0.8 * _texture(rng, (height, int(textured.sum())))
    boxes = window_boxes(image.shape)
    similarities = np.array([textured[x : x + w].mean() for x, _, w, _ in boxes])
    return image.astype(np.float32), boxes, similarities


def write_fake_shards(folder, subset, images, *, repeats=1, seed=0):
    """Write ``images`` x ``repeats`` shards of ``subset`` and a manifest into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(images):
        for repeat in range(repeats):
            blurred, boxes, similarities = _fake_image(rng)
            np.savez(
                folder / f"{subset}-seed{seed}-img{index:04d}-rep{repeat:02d}.npz",
                blurred=blurred, kernel=np.full((5, 5), 1 / 25), boxes=boxes, similarities=similarities,
                labels=similarities > THRESHOLD, image_name=f"{subset}/image{index:03d}.png", subset=subset,
                settings=json.dumps(SETTINGS), noise_sigma=0.01, threshold=THRESHOLD, seconds=0.0, seed=seed,
                image_index=index, repeat=repeat, support=9,
            )
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "settings": SETTINGS, "runs": []}))
    return folder


def _windows(rng, count, size=64):
    """Half textured windows (label 1), half flat (label 0)."""
    windows = 0.5 + 0.01 * rng.standard_normal((count, 1, size, size))
    labels = np.zeros(count, dtype=np.float32)
    for i in range(0, count, 2):
        windows[i, 0] = 0.1 + 0.8 * _texture(rng, (size, size), block=4)
        labels[i] = 1.0
    return torch.from_numpy(windows.astype(np.float32)), torch.from_numpy(labels)


def test_a_few_sgd_steps_lower_the_loss():
    torch.manual_seed(0)
    windows, labels = _windows(np.random.default_rng(0), 16)
    model = build_model("edge", ModelConfig(width=8))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(15):
        loss = loss_fn(model(windows), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    # Training-mode losses: after 15 steps BatchNorm's running statistics still lag behind.
    assert losses[-1] < 0.5 * losses[0], losses


def test_tiny_training_run_writes_checkpoints_log_and_metrics(tmp_path):
    shards = write_fake_shards(tmp_path / "labels", "train", 4)
    write_fake_shards(tmp_path / "labels", "validation", 2, seed=1)
    config = TrainConfig(model="edge", epochs=2, batch_size=8, lr=0.01, max_windows_per_epoch=16, width=8)
    result = train(shards, out=tmp_path / "run", config=config)
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt", "train.log", "history.json"):
        assert (run / name).is_file(), name
    log = (run / "train.log").read_text()
    assert "epoch 2" in log and "val_auc" in log
    assert len(result["history"]) == 2
    metrics = result["history"][-1]
    for key in ("val_auc", "val_accuracy", "val_top1_similarity", "val_median_similarity", "val_best_similarity"):
        assert np.isfinite(metrics[key]), key
    assert metrics["val_best_similarity"] >= metrics["val_top1_similarity"]
    # Dense whole-image scoring equals per-window scoring for the unpadded edge model.
    assert metrics["dense_max_abs_diff"] < 1e-4 and metrics["dense_same_top1"] == 1.0

    model, state = load_checkpoint(run / "best.pt")
    meta = state["metadata"]
    assert meta["window_size"] == 228 and meta["window_stride"] == 20 and meta["lambda"] == THRESHOLD
    assert meta["training_data"]["images"] == 4 and meta["validation_data"]["images"] == 2
    assert meta["logit_map"]["stride"] == 4 and len(meta["git_commit"]) >= 7
    assert state["train_config"]["width"] == 8 and not model.training

    with pytest.raises(FileExistsError):
        train(shards, out=run, config=config)


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path):
    import torch

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80\x02 not a checkpoint" * 10)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in (garbage, empty):
        with pytest.raises(ValueError, match="cannot be read as a checkpoint .* damaged or not a torch file"):
            load_checkpoint(path)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="is not a .* file written by `goodregions train`"):
        load_checkpoint(other)


@pytest.mark.parametrize("select_by, key", [("top1", "val_top1_similarity"), ("auc", "val_auc")])
def test_best_checkpoint_is_the_epoch_with_the_best_selection_metric(tmp_path, select_by, key):
    shards = write_fake_shards(tmp_path / "labels", "train", 4)
    write_fake_shards(tmp_path / "labels", "validation", 3, seed=2)
    config = TrainConfig(epochs=4, batch_size=8, lr=0.05, max_windows_per_epoch=16, width=8, select_by=select_by)
    result = train(shards, out=tmp_path / "run", config=config)
    values = [metrics[key] for metrics in result["history"]]
    _, state = load_checkpoint(result["best"])
    # The first epoch with the highest value: a later tie does not replace it.
    assert state["epoch"] == 1 + int(np.argmax(values))
    assert result["best_metrics"][key] == max(values)


def test_without_validation_shards_whole_images_are_held_out(tmp_path):
    shards = write_fake_shards(tmp_path / "labels", "train", 5, repeats=2)
    config = TrainConfig(epochs=1, batch_size=8, max_windows_per_epoch=8, width=8, val_fraction=0.4)
    result = train(shards, out=tmp_path / "run", config=config)
    _, state = load_checkpoint(result["last"])
    train_data, val_data = state["metadata"]["training_data"], state["metadata"]["validation_data"]
    assert (train_data["images"], val_data["images"]) == (3, 2)
    assert (train_data["samples"], val_data["samples"]) == (6, 4)  # both repeats of an image stay together


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="model"):
        TrainConfig(model="vgg")
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment="rotate")
    with pytest.raises(ValueError, match="select_by"):
        TrainConfig(select_by="loss")


def test_dataset_cuts_the_labelled_windows_and_augments_by_symmetries_only(tmp_path):
    from goodregions.export._train_data import WindowDataset, load_samples
    from goodregions.export.windows import cut_windows

    samples, _ = load_samples([write_fake_shards(tmp_path / "labels", "train", 1)], "train")
    sample = samples[0]
    plain = WindowDataset(samples, augment=False)
    expected = cut_windows(sample.blurred, sample.boxes)
    for item in (0, 7, len(plain) - 1):
        window, label = plain[item]
        assert window.shape == (1, 228, 228) and window.dtype == torch.float32
        np.testing.assert_array_equal(window[0].numpy(), expected[item])
        assert label.item() == float(sample.labels[item])
    torch.manual_seed(0)
    augmented = WindowDataset(samples, augment=True)
    symmetries = [np.rot90(expected[3], k) for k in range(4)]
    symmetries += [s.T for s in symmetries]
    seen = set()
    for _ in range(40):
        window, label = augmented[3]
        matches = [i for i, s in enumerate(symmetries) if np.array_equal(window[0].numpy(), s)]
        assert matches and label.item() == float(sample.labels[3])
        seen.update(matches)
    assert len(seen) >= 6  # the draws cover the group


def test_train_command(tmp_path, capsys):
    from goodregions.runtime.cli import main

    shards = write_fake_shards(tmp_path / "labels", "train", 3)
    argv = ["train", str(shards), "-o", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--max-windows", "8", "--width", "8"]
    assert main(argv) == 0
    assert "best.pt (by top1) is epoch 1" in capsys.readouterr().out and (tmp_path / "run" / "best.pt").is_file()
    assert main(argv) == 2  # the run folder is taken
    assert "--overwrite" in capsys.readouterr().err
