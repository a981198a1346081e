"""The ``goodregions`` command: one entry point, one subcommand per job.

Every subcommand returns an exit code; errors the user can fix (a missing file, an
existing output, a bad option value) print one clear line and exit with status 2.
Warnings print as one line too, ``goodregions CMD: warning: ...``, without Python's file
and source line.
"""

import argparse
import json
import sys
import time
import warnings

from .arg_types import odd_int
from .bench_report import add_json_option, check_json_option
from .model_file import ModelError
from .scorer import InferenceError

__all__ = ["main"]


def _run_estimate(args):
    from goodregions.kernels_fast import estimate_kernel

    from .image_io import check_writable, read_image, write_kernel

    if args.output is not None:
        check_writable(args.output, overwrite=args.overwrite, inputs=[args.input])
    image, _ = read_image(args.input)
    start = time.perf_counter()
    kernel, diagnostics = estimate_kernel(image, args.kernel_size, prior=args.prior, return_diagnostics=True)
    seconds = time.perf_counter() - start
    if args.output is not None:
        write_kernel(args.output, kernel, overwrite=args.overwrite)
    record = {
        "input": str(args.input),
        "kernel_size": args.kernel_size,
        "prior": args.prior,
        "seconds": round(seconds, 4),
        "level_kernel_sizes": list(diagnostics.kernel_sizes),
        "level_seconds": [round(s, 4) for s in diagnostics.level_seconds],
        "touches_border": diagnostics.touches_border,
        "output": None if args.output is None else str(args.output),
    }
    if args.json:
        print(json.dumps(record))
    else:
        print(f"estimated a {args.kernel_size}x{args.kernel_size} kernel ({args.prior} prior) in {seconds:.2f} s")
        if args.output is not None:
            print(f"kernel written to {args.output}")
    if diagnostics.touches_border:
        print(
            f"warning: the kernel reaches the border of its {args.kernel_size}x{args.kernel_size} support; "
            f"the blur may be larger: try --kernel-size {args.kernel_size + 10}",
            file=sys.stderr,
        )
    return 0


def _run_demo(args):
    from .demo import run_demo, run_real_demo

    if args.sample in ("synthetic", "all"):
        summary = run_demo(args.out, prior=args.prior, overwrite=args.overwrite)
        print(
            f"kernel similarity to the true kernel: {summary['kernel_similarity']:.3f}; PSNR "
            f"{summary['psnr_blurred_db']:.2f} dB blurred -> {summary['psnr_deblurred_db']:.2f} dB deblurred "
            f"(estimate {summary['estimate_seconds']:.2f} s, deconvolution {summary['deconvolve_seconds']:.2f} s)"
        )
    if args.sample in ("real", "all"):
        real = run_real_demo(args.out, prior=args.prior, model=args.model, overwrite=args.overwrite,
                             note=lambda text: print(text, file=sys.stderr))
        seconds = real["timings"]
        print(f"real sample: {real['selector']} window {tuple(real['window'])}, {real['kernel_size']}x{real['kernel_size']} "
              f"kernel (score {seconds['score']:.2f} s, estimate {seconds['estimate']:.2f} s, deconvolution "
              f"{seconds['deconvolve']:.2f} s); real_deblurred.png, real_overlay.png, real_kernel.png")
    print(f"pictures and summaries written to {args.out}/")
    return 0


def _run_bench_kernels(args):
    from .bench_kernels import run_kernel_benchmark

    check_json_option(args)
    run_kernel_benchmark(json_path=args.json, repeats=args.repeats)
    return 0


def _run_bench_accuracy(args):
    from .bench_accuracy import parse_overrides, run_accuracy_benchmark

    overrides = parse_overrides(args.set)  # a bad --set is a ValueError, reported by main
    check_json_option(args)
    run_accuracy_benchmark(json_path=args.json, data_root=args.data, workers=args.workers, limit=args.limit,
                           priors=tuple(args.priors.split(",")), overrides=overrides, noise_draw=args.noise_draw)
    return 0


def _run_label(args):
    from goodregions.export.labelling import LabelSettings, label_windows, parse_kernel_sizes, summary

    sizes = {} if args.kernel_sizes is None else {"kernel_sizes": parse_kernel_sizes(args.kernel_sizes)}
    report = label_windows(
        args.out, subset=args.subset, settings=LabelSettings(**sizes), seed=args.seed,
        samples_per_image=args.samples_per_image, limit_images=args.limit_images, data_root=args.data,
        workers=args.workers, overwrite=args.overwrite,
    )
    stats = summary(args.out)
    print(
        f"labelled {report['computed']} samples ({report['skipped']} already done), {report['windows']} windows in "
        f"{report['seconds']:.0f} s; {args.out}/ now holds {stats['samples']} samples, {stats['windows']} windows, "
        f"{stats['positive_ratio']:.1%} good"
    )
    return 0


def _require_train_extra():
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise ImportError("training and ONNX export need torch: pip install 'goodregions[train]'") from error


def _run_train(args):
    _require_train_extra()
    from goodregions.export.train import TrainConfig, train

    config = TrainConfig(
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, seed=args.seed, augment=args.augment, val_fraction=args.val_fraction,
        max_windows_per_epoch=args.max_windows, device=args.device, width=args.width, select_by=args.select_by,
    )
    out = args.out or f"out/train-{args.model}"
    result = train(args.shards, out=out, config=config, validation_shards=args.validation_shards, overwrite=args.overwrite)
    best = result["best_metrics"] or {}
    print(
        f"trained {args.model} for {args.epochs} epochs; best.pt (by {args.select_by}) is epoch {best.get('epoch')}: "
        f"validation AUC {best.get('val_auc', float('nan')):.3f}, top-1 window similarity {best.get('val_top1_similarity', float('nan')):.3f} "
        f"vs median {best.get('val_median_similarity', float('nan')):.3f} and best {best.get('val_best_similarity', float('nan')):.3f}; "
        f"checkpoints and train.log in {result['run_dir']}/"
    )
    return 0


def _run_eval_scorer(args):
    from goodregions.export.scorer_eval import evaluate_scorer

    from .bench_report import environment, save_json

    check_json_option(args)
    record = evaluate_scorer(args.model, args.labels, subset=args.subset, mode=args.mode)
    print(
        f"{record['samples']} {args.subset} samples, {record['windows']} windows: AUC {record['auc']:.3f} "
        f"(95% bootstrap over samples {record['auc_interval'][0]:.3f}-{record['auc_interval'][1]:.3f}), accuracy {record['accuracy']:.3f}; kernel similarity of the top-1 window {record['top1']:.3f} "
        f"vs median window {record['median']:.3f} vs best window {record['best']:.3f} (medians over samples)"
    )
    if args.json:
        save_json(args.json, {**record, "environment": environment()})
    return 0


def _run_export_onnx(args):
    _require_train_extra()
    from goodregions.export.onnx_export import ParityError, export_onnx

    try:
        report = export_onnx(args.checkpoint, args.output, overwrite=args.overwrite)
    except ParityError as error:
        print(f"goodregions export-onnx: parity check failed, nothing written: {error}", file=sys.stderr)
        return 1
    worst = max(entry["max_abs_diff"] for entry in report["parity"].values())
    print(f"wrote {report['path']} ({report['bytes'] / 1e6:.2f} MB) and {report['sha256_path']}; torch vs onnxruntime max |diff| {worst:.2e}")
    return 0


def _build_parser():
    from goodregions.kernels_fast import PRIORS

    from .defaults import PRIOR

    parser = argparse.ArgumentParser(prog="goodregions", description="Fast blind deblurring from well-chosen regions.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    estimate = commands.add_parser("estimate", help="estimate the blur kernel of an image")
    estimate.add_argument("input", metavar="IN", help="blurred image file")
    estimate.add_argument("--kernel-size", type=odd_int, required=True, metavar="N", help="odd kernel support, larger than the blur")
    estimate.add_argument("--prior", choices=PRIORS, default="dark", help="image prior (default: dark)")
    estimate.add_argument("-o", "--output", metavar="KERNEL", help="save the kernel (.npy values, or .png picture)")
    estimate.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    estimate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    estimate.set_defaults(handler=_run_estimate)

    demo = commands.add_parser("demo", help="estimate and remove the blur of a bundled sample")
    demo.add_argument("-o", "--out", default="goodregions-demo", help="output folder (default: goodregions-demo)")
    demo.add_argument("--prior", choices=PRIORS, default=PRIOR,
                      help=f"image prior (default {PRIOR}, as for deblur and stream)")
    demo.add_argument("--overwrite", action="store_true", help="replace existing files in the folder")
    demo.add_argument("--sample", choices=("synthetic", "real", "all"), default="synthetic",
                      help="synthetic blur with ground truth (default), the bundled real photo (full pipeline), or both")
    demo.add_argument("--model", metavar="ONNX", help="window scorer for the real sample (default $GOODREGIONS_MODEL, bundled, else xu)")
    demo.set_defaults(handler=_run_demo)

    bench = commands.add_parser("bench", help="speed and accuracy benchmarks")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    kernels = benches.add_parser("kernels", help="speed of kernels_fast against plain numpy/scipy")
    add_json_option(kernels)
    kernels.add_argument("--repeats", type=int, default=5, help="timed runs per figure after warm-up (default 5)")
    kernels.set_defaults(handler=_run_bench_kernels)
    accuracy = benches.add_parser("accuracy", help="estimator accuracy on the development images with Levin's kernels")
    add_json_option(accuracy)
    accuracy.add_argument("--data", metavar="DIR", help="the shared data folder (default: $GOODREGIONS_DATA or ../shared/data)")
    accuracy.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    accuracy.add_argument("--limit", type=int, default=None, help="use only the first N images (quick check)")
    accuracy.add_argument("--priors", choices=("dark,l0", "dark", "l0"), default="dark,l0", help="priors to run (default both)")
    accuracy.add_argument("--set", action="append", metavar="NAME=VALUE",
                          help="try another EstimatorConfig value, e.g. --set iterations_per_level=4 (repeatable)")
    accuracy.add_argument("--noise-draw", type=int, default=0, metavar="N",
                          help="other noise on every case (default 0, the benchmark's own): replicates for "
                               "judging whether a setting's gain beats the estimator's flip noise")
    accuracy.set_defaults(handler=_run_bench_accuracy)
    from .bench_registration import add_bench_registration_parser  # handlers in their modules
    from .bench_runtime import add_bench_runtime_parser

    add_bench_runtime_parser(benches)
    add_bench_registration_parser(benches)

    label = commands.add_parser("label", help="label every window of synthetic training samples as good or not")
    label.add_argument("--out", required=True, metavar="DIR", help="folder of the shards and manifest.json")
    label.add_argument("--subset", choices=("train", "validation"), default="train", help="split subset (default: train)")
    label.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    label.add_argument("--samples-per-image", type=int, default=1, metavar="N", help="blur draws per image (default 1)")
    label.add_argument("--limit-images", type=int, default=None, metavar="N", help="use only the first N images")
    label.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    label.add_argument("--kernel-sizes", metavar="SIZES", help="odd true-kernel sizes: 11-55 (default) or 11,15,21")
    label.add_argument("--data", metavar="DIR", help="the shared data folder (default: $GOODREGIONS_DATA or ../shared/data)")
    label.add_argument("--overwrite", action="store_true", help="delete the folder's shards and manifest first")
    label.set_defaults(handler=_run_label)

    train = commands.add_parser("train", help="train a window scorer on label shards")
    train.add_argument("shards", nargs="+", metavar="SHARDS", help="label folder(s) of `goodregions label`; their train shards train")
    train.add_argument("--validation-shards", nargs="+", metavar="DIR", help="folder(s) with the validation shards (default: SHARDS; "
                       "without validation shards a share of the training images is held out)")
    train.add_argument("--model", choices=("edge", "resnet34s"), default="edge", help="architecture (default: edge)")
    train.add_argument("-o", "--out", metavar="DIR", help="run folder (default: out/train-MODEL)")
    train.add_argument("--epochs", type=int, default=20, help="default 20")
    train.add_argument("--batch-size", type=int, default=32, help="default 32")
    train.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate (default 1e-3)")
    train.add_argument("--momentum", type=float, default=0.9, help="default 0.9")
    train.add_argument("--weight-decay", type=float, default=0.0, help="default 0")
    train.add_argument("--seed", type=int, default=0, help="default 0")
    train.add_argument("--augment", choices=("dihedral", "none"), default="dihedral", help="flips and quarter turns (default) or none")
    train.add_argument("--val-fraction", type=float, default=0.2, help="share of images held out without validation shards (default 0.2)")
    train.add_argument("--max-windows", type=int, metavar="N", help="windows drawn per epoch (default: all)")
    train.add_argument("--width", type=int, help="base channel width (default: the model's)")
    train.add_argument("--select-by", choices=("top1", "auc"), default="top1",
                       help="best.pt is the epoch with the best validation top-1 window similarity (default) or pooled AUC")
    train.add_argument("--device", default="cpu", help="torch device (default cpu)")
    train.add_argument("--overwrite", action="store_true", help="replace a previous run in the folder")
    train.set_defaults(handler=_run_train)

    export_onnx = commands.add_parser("export-onnx", help="export a trained checkpoint to ONNX (checked against torch)")
    export_onnx.add_argument("checkpoint", metavar="CHECKPOINT", help="best.pt or last.pt of `goodregions train`")
    export_onnx.add_argument("-o", "--output", required=True, metavar="ONNX", help="for example models/edge.onnx (also writes ONNX.sha256)")
    export_onnx.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    export_onnx.set_defaults(handler=_run_export_onnx)

    eval_scorer = commands.add_parser("eval-scorer", help="how well an ONNX scorer ranks labelled windows (AUC, top-1 vs median)")
    eval_scorer.add_argument("model", metavar="MODEL", help="the .onnx file")
    eval_scorer.add_argument("--labels", required=True, metavar="DIR", help="a goodregions label folder")
    eval_scorer.add_argument("--subset", choices=("validation", "train"), default="validation", help="default: validation")
    eval_scorer.add_argument("--mode", choices=("dense", "windows"), default="dense", help="scoring mode (default dense)")
    add_json_option(eval_scorer)
    eval_scorer.set_defaults(handler=_run_eval_scorer)

    from .score_command import add_score_parser  # the handler lives in score_command.py

    add_score_parser(commands)

    from .deblur_command import add_deblur_parser  # handlers in deblur_command.py and stream_command.py
    from .stream_command import add_stream_parser

    add_deblur_parser(commands)
    add_stream_parser(commands)
    from .evaluate_command import add_evaluate_parser  # handler in evaluate_command.py

    add_evaluate_parser(commands)
    return parser


def _warning_printer(command):
    """A ``warnings.showwarning`` that prints ``goodregions CMD: warning: message`` above any progress bar."""
    from tqdm import tqdm

    def show(message, category, filename, lineno, file=None, line=None):
        kind = "" if category is UserWarning else f" ({category.__name__})"
        tqdm.write(f"goodregions {command}: warning{kind}: {message}", file=sys.stderr)

    return show


def main(argv=None):
    """Run the ``goodregions`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    command = f"{args.command} {args.bench}" if args.command == "bench" else args.command
    try:
        with warnings.catch_warnings():  # restores the library's warning display afterwards
            warnings.showwarning = _warning_printer(command)
            return args.handler(args)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError, ImportError, ModelError, InferenceError) as error:
        print(f"goodregions {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"goodregions {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
