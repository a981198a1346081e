"""Streaming: re-estimation schedule, change triggers, drops, abrupt ends (files, iterables and a fake live
camera) and a playable output."""

import json
import time

import cv2
import numpy as np
import pytest

from goodregions.runtime.cli import main
from goodregions.runtime.pipeline import Deblurrer
from goodregions.runtime.stream import SourceError, deblur_stream
from goodregions.runtime.stream_command import write_stream
from goodregions.runtime.video_source import URL_OPEN_TIMEOUT_MS, URL_READ_TIMEOUT_MS

FRAMES, HEIGHT, WIDTH = 40, 120, 160
QUIET = {"change_threshold": None, "sharpness_change": None}  # only the periodic schedule


def _scene(seed, low=0.0, high=1.0):
    """A 400 x 400 colour canvas of 10-pixel blocks in [low, high], blurred by a 7-pixel horizontal motion."""
    blocks = low + (high - low) * np.kron(np.random.default_rng(seed).random((40, 40, 3)), np.ones((10, 10, 1)))
    kernel = np.full((1, 7), 1.0 / 7.0)
    return np.round(cv2.filter2D(blocks, -1, kernel, borderType=cv2.BORDER_REFLECT) * 255).astype(np.uint8)


def frames(count=FRAMES, *, cut_at=None):
    """Panning crops (2 px and 1 px per frame); from ``cut_at`` on, crops of another scene."""
    scenes = (_scene(0), _scene(1, 0.5, 0.9))
    for i in range(count):
        scene = scenes[1 if cut_at is not None and i >= cut_at else 0]
        yield np.ascontiguousarray(scene[i:i + HEIGHT, 2 * i:2 * i + WIDTH])


def write_video(path, fourcc="mp4v", count=FRAMES):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (WIDTH, HEIGHT))
    for frame in frames(count):
        writer.write(frame)
    writer.release()
    return path


def count_frames(path):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open"
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("stream") / "clip.mp4")


@pytest.fixture(scope="module")
def deblurrer():
    return Deblurrer(selector="whole", kernel_size=13, prior="l0")


def test_file_source_drops_nothing_and_reestimates_every_n_frames(video, deblurrer):
    stream = deblur_stream(str(video), deblurrer=deblurrer, reestimate_every=10, luma_only=True, queue_size=2, **QUIET)
    results = list(stream)
    assert len(results) == FRAMES and stream.stats.frames == FRAMES and stream.stats.dropped == 0
    assert stream.stats.requested_on == [0, 10, 20, 30]
    assert [info.index for _, info in results if info.estimate_requested] == [0, 10, 20, 30]
    assert 1 <= stream.stats.estimates_done <= 4
    versions = [info.kernel_version for _, info in results]
    assert versions[0] == 1 and versions == sorted(versions)
    frame, info = results[0]
    assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8 and info.window == (0, 0, WIDTH, HEIGHT)
    assert "ended after 40 frames" in stream.stats.end_reason


@pytest.mark.parametrize("kind", ["iterable", "file"])
def test_a_slow_consumer_of_a_file_waits_instead_of_dropping(kind, video, deblurrer):
    source = frames() if kind == "iterable" else str(video)
    stream = deblur_stream(source, deblurrer=deblurrer, reestimate_every=100, queue_size=1, **QUIET)
    count = 0
    for _ in stream:
        time.sleep(0.005)
        count += 1
    assert not stream.stats.live and count == FRAMES and stream.stats.dropped == 0


def test_a_live_source_drops_frames_under_load(deblurrer):
    stream = deblur_stream(frames(), deblurrer=deblurrer, reestimate_every=100, queue_size=1, live=True, **QUIET)
    infos = []
    for _, info in stream:
        time.sleep(0.02)
        infos.append(info)
    assert stream.stats.dropped > 0 and len(infos) + stream.stats.dropped == FRAMES
    assert infos[-1].source_index > infos[-1].index  # output frame numbers skip the dropped ones


def test_a_scene_cut_triggers_a_new_estimate(deblurrer):
    stream = deblur_stream(frames(cut_at=25), deblurrer=deblurrer, reestimate_every=1000, change_threshold=0.2,
                           sharpness_change=None)
    list(stream)
    assert stream.stats.requested_on == [0, 25]


def test_full_colour_mode_and_rgb_order(deblurrer):
    source = list(frames(6))
    results = list(deblur_stream(source, deblurrer=deblurrer, luma_only=False, **QUIET))
    assert len(results) == 6 and results[0][0].shape == (HEIGHT, WIDTH, 3)
    gray = list(deblur_stream([f[..., 1].copy() for f in source], deblurrer=deblurrer, **QUIET))
    assert gray[0][0].shape == (HEIGHT, WIDTH)


def test_a_source_that_raises_ends_cleanly_and_the_output_plays(tmp_path, deblurrer):
    def broken():
        yield from frames(15)
        raise OSError("camera unplugged")

    output = tmp_path / "partial.mp4"
    stream = deblur_stream(broken(), deblurrer=deblurrer, order="bgr", **QUIET)
    with pytest.raises(SourceError, match="after 15 frames.*camera unplugged"):
        write_stream(stream, output)
    assert count_frames(output) == 15


def test_the_command_writes_a_playable_video(video, tmp_path, capsys):
    output = tmp_path / "out.mp4"
    code = main(["stream", str(video), "-o", str(output), "--selector", "whole", "--kernel-size", "13", "--luma-only",
                 "--reestimate-every", "10", "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["frames"] == FRAMES and record["dropped"] == 0 and record["peak_rss_mb"] > 0 and record["fps"] > 0
    # One per kernel that took over; an estimate finishing after the last frame is never used.
    assert 1 <= len(record["kernel_shifts"]) <= record["estimates_done"] and record["kernel_shifts"][0] == [0.0, 0.0]
    assert count_frames(output) == FRAMES
    assert main(["stream", str(video), "-o", str(output), "--selector", "whole"]) == 2  # no overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["stream", str(video), "-o", str(output), "--selector", "whole", "--kernel-size", "13", "--luma-only",
                 "--reestimate-every", "10", "--no-align-kernels", "--overwrite", "--json"]) == 0
    assert {tuple(shift) for shift in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["kernel_shifts"]} == {(0.0, 0.0)}


def test_a_truncated_file_ends_early_with_a_clear_reason(tmp_path, capsys):
    whole = write_video(tmp_path / "clip.avi", fourcc="MJPG")
    data = whole.read_bytes()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: len(data) // 2])
    output = tmp_path / "out.mp4"
    code = main(["stream", str(truncated), "-o", str(output), "--selector", "whole", "--kernel-size", "13", "--luma-only"])
    assert code == 0
    text = capsys.readouterr().out
    assert "truncated or damaged" in text
    written = count_frames(output)
    assert 0 < written < FRAMES


def test_sources_that_cannot_be_opened(tmp_path, deblurrer):
    with pytest.raises(FileNotFoundError, match="not a video file"):
        deblur_stream(str(tmp_path / "missing.mp4"), deblurrer=deblurrer)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="cannot be opened"):
        deblur_stream(str(damaged), deblurrer=deblurrer)
    with pytest.raises(TypeError, match="uint8"):
        list(deblur_stream([np.zeros((20, 20), np.float32)], deblurrer=deblurrer))


def test_bad_options_are_refused_at_the_call(deblurrer):
    frames = [np.zeros((40, 40), np.uint8)]
    with pytest.raises(ValueError, match="weight must be finite and > 0, got -1.0"):
        deblur_stream(frames, deblurrer=deblurrer, weight=-1.0)
    with pytest.raises(TypeError, match="reestimate_every must be an int, got float"):
        deblur_stream(frames, deblurrer=deblurrer, reestimate_every=2.5)
    with pytest.raises(ValueError, match=r"queue_size must be an int >= 1 \(frames\), got 0"):
        deblur_stream(frames, deblurrer=deblurrer, queue_size=0)


class FakeCamera:
    """Stands in for ``cv2.VideoCapture`` of a camera or URL: ``delivered`` frames, one per
    ``period`` seconds, then ``read()`` fails (``fail="false"``, as OpenCV does when a camera is
    unplugged) or raises ``cv2.error`` (``fail="raise"``, as some backends do)."""

    opened = []

    def __init__(self, source, *args, delivered=30, period=0.002, fail="false"):
        self.source, self.args, self.period, self.fail, self.released = source, args, period, fail, False
        self._frames = iter([frame.copy() for frame in frames(delivered)])
        FakeCamera.opened.append(self)

    def isOpened(self):
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0  # cameras announce no frame count

    def read(self):
        time.sleep(self.period)
        frame = next(self._frames, None)
        if frame is not None:
            return True, frame
        if self.fail == "raise":
            raise cv2.error("connection to the camera lost")
        return False, None

    def release(self):
        self.released = True


def _fake_camera(monkeypatch, **options):
    """Make ``cv2.VideoCapture`` open a :class:`FakeCamera` with ``options`` (isinstance checks still hold)."""
    class Camera(FakeCamera):
        def __init__(self, source, *args):
            super().__init__(source, *args, **options)

    FakeCamera.opened.clear()
    monkeypatch.setattr(cv2, "VideoCapture", Camera)


@pytest.mark.parametrize("source", ["0", "rtsp://camera.invalid/stream"])
def test_a_live_source_that_disconnects_ends_cleanly_and_the_output_plays(source, tmp_path, capsys, monkeypatch):
    output = tmp_path / "live.mp4"
    with monkeypatch.context() as patch:
        _fake_camera(patch, delivered=30)
        code = main(["stream", source, "-o", str(output), "--selector", "whole", "--kernel-size", "13", "--luma-only", "--json"])
        (camera,) = FakeCamera.opened
    assert code == 0 and camera.source in (0, source) and camera.released
    if source.startswith("rtsp"):  # a stalled network stream must time out, not hang
        _, params = camera.args
        assert dict(zip(params[::2], params[1::2])) == {cv2.CAP_PROP_OPEN_TIMEOUT_MSEC: URL_OPEN_TIMEOUT_MS,
                                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC: URL_READ_TIMEOUT_MS}
    captured = capsys.readouterr()
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["live"] and record["frames"] + record["dropped"] == 30
    assert record["end_reason"].startswith("live source disconnected (or ended) after 30 frames")
    assert f"note: live source disconnected (or ended) after 30 frames, {record['dropped']} of them dropped" in captured.err
    assert f"the {record['frames']} frames written are in {output}" in captured.err
    assert count_frames(output) == record["frames"] > 0  # cv2.VideoCapture is the real one again here


def test_a_live_source_that_fails_to_read_exits_1_and_the_output_plays(tmp_path, capsys, monkeypatch):
    output = tmp_path / "live.mp4"
    with monkeypatch.context() as patch:
        _fake_camera(patch, delivered=20, fail="raise")
        code = main(["stream", "0", "-o", str(output), "--selector", "whole", "--kernel-size", "13", "--luma-only"])
        (camera,) = FakeCamera.opened
    assert code == 1 and camera.released
    err = capsys.readouterr().err
    assert "failed after 20 frames" in err and "connection to the camera lost" in err and "dropped under load" in err
    written = int(err.split("; the ")[-1].split()[0])
    assert count_frames(output) == written > 0


def test_a_live_camera_under_load_drops_and_counts(deblurrer, monkeypatch):
    with monkeypatch.context() as patch:
        _fake_camera(patch, delivered=60, period=0.002)
        stream = deblur_stream(0, deblurrer=deblurrer, reestimate_every=100, queue_size=2, **QUIET)
        infos = []
        for _, info in stream:
            time.sleep(0.02)  # a consumer ten times slower than the camera
            infos.append(info)
    assert stream.stats.live and stream.stats.dropped > 0 and len(infos) + stream.stats.dropped == 60
    assert [info.dropped for info in infos] == sorted(info.dropped for info in infos)
    assert infos[-1].source_index - infos[-1].index <= stream.stats.dropped


@pytest.mark.filterwarnings("ignore:image of 160x120 is smaller")  # the clip is smaller than one window
def test_the_command_passes_candidates_to_the_deblurrer_and_checks_the_selector(video, tmp_path, capsys, monkeypatch):
    seen = []
    original = Deblurrer.estimate

    def spy(self, *args, **kwargs):
        seen.append((self.selector, self.candidates))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Deblurrer, "estimate", spy)
    output = tmp_path / "out.mp4"
    assert main(["stream", str(video), "-o", str(output), "--selector", "xu", "--candidates", "2", "--kernel-size", "13",
                 "--luma-only", "--max-frames", "3", "--json"]) == 0
    assert seen and set(seen) == {("xu", 2)}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["candidates"] == 2
    assert main(["stream", str(video), "-o", str(tmp_path / "c.mp4"), "--selector", "center", "--candidates", "2"]) == 2
    assert "needs a scored selector" in capsys.readouterr().err
    assert main(["stream", str(video), "-o", str(tmp_path / "b.mp4"), "--box", "0", "0", "100", "100"]) == 2
    assert "--selector box" in capsys.readouterr().err
    assert not (tmp_path / "c.mp4").exists() and not (tmp_path / "b.mp4").exists()


def test_the_command_never_writes_over_its_source(video, capsys):
    before = video.read_bytes()
    assert main(["stream", str(video), "-o", str(video), "--overwrite"]) == 2
    assert "is the input itself" in capsys.readouterr().err and video.read_bytes() == before


@pytest.mark.parametrize("option", ["--max-frames", "--rss-every"])
def test_the_command_refuses_a_frame_count_below_one(option, video, tmp_path, capsys):
    output = tmp_path / "out.mp4"
    with pytest.raises(SystemExit) as stop:  # --max-frames 0 used to write one frame
        main(["stream", str(video), "-o", str(output), option, "0"])
    assert stop.value.code == 2 and f"argument {option}: must be a positive integer, got 0" in capsys.readouterr().err
    assert not output.exists()


class _UnreadStream:
    """A stream that fails the test if a frame is taken from it; records whether it was closed."""

    fps, closed = 25.0, False

    def __iter__(self):
        raise AssertionError("write_stream read a frame before checking max_frames")

    def close(self):
        self.closed = True


@pytest.mark.parametrize(("max_frames", "error", "message"), [
    (0, ValueError, r"max_frames must be an int >= 1, got 0"),
    (2.5, TypeError, r"max_frames must be an int, got float 2.5"),
])
def test_write_stream_refuses_a_bad_max_frames_and_closes_the_stream(max_frames, error, message, tmp_path):
    stream, output = _UnreadStream(), tmp_path / "out.mp4"
    with pytest.raises(error, match=message):
        write_stream(stream, output, max_frames=max_frames)
    assert stream.closed and not output.exists()


def test_the_command_prints_a_warning_as_one_line(video, tmp_path, capsys):
    output = tmp_path / "out.mp4"
    assert main(["stream", str(video), "-o", str(output), "--kernel-size", "13", "--max-frames", "2"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert lines == ["goodregions stream: warning: image of 160x120 is smaller than one 228x228 window; selector 'cnn' "
                     "falls back to 'whole' (the kernel is estimated on the whole image)"]
    assert "UserWarning" not in err and "stream_command.py" not in err


class _KernelThenMovedCopy:
    """A stand-in deblurrer: the first estimate is ``kernel``, every later one the same kernel 2 px to the right."""

    def __init__(self, kernel):
        self.kernels = (kernel, np.roll(kernel, 2, axis=1))
        self.calls = 0

    def estimate(self, luminance, warn=True):
        from goodregions.runtime.pipeline import Estimate

        kernel = self.kernels[min(self.calls, 1)]
        self.calls += 1
        return Estimate(kernel=kernel, window=(0, 0, luminance.shape[1], luminance.shape[0]), selector="box", score=None,
                        scores=None, provider=None, kernel_size=kernel.shape[0], touches_border=False)


def _outputs_by_kernel_version(align_kernels):
    kernel = np.zeros((9, 9))
    kernel[4, 2:7] = 0.2  # 5 px horizontal motion, 2 px from each side of the support
    still = [np.ascontiguousarray(_scene(0)[:HEIGHT, :WIDTH, 1])] * 30  # gray: colour would keep Cr and Cb in place
    stream = deblur_stream(still, deblurrer=_KernelThenMovedCopy(kernel), reestimate_every=5, queue_size=1,
                           align_kernels=align_kernels, **QUIET)
    outputs = {}
    for output, info in stream:
        outputs.setdefault(info.kernel_version, output.astype(int))
        time.sleep(0.01)  # let the second estimate arrive while frames remain
    return outputs, stream.stats.kernel_shifts


def test_a_moved_estimate_of_the_same_blur_does_not_move_the_picture():
    outputs, shifts = _outputs_by_kernel_version(align_kernels=True)
    assert shifts[0] == (0.0, 0.0) and shifts[1] == pytest.approx((0.0, -2.0), abs=1e-9)
    assert np.abs(outputs[2] - outputs[1]).max() <= 1


def test_without_registration_the_picture_moves_with_the_kernel():
    outputs, shifts = _outputs_by_kernel_version(align_kernels=False)
    assert set(shifts) == {(0.0, 0.0)}
    # The kernel moved 2 px right, so the deconvolution moved 2 px left.
    assert np.abs(outputs[2] - outputs[1]).max() > 50
    assert np.abs(outputs[2][:, 10:-12] - outputs[1][:, 12:-10]).max() <= 1
