"""``goodregions evaluate``: the selectors against each other on synthetic blur with known kernels.

The images come from ``--images`` (files, folders, globs) or ``--subset dev|validation`` of the
committed split; the kernels from every ``*.npy`` of ``--kernels``. See
:mod:`goodregions.runtime.evaluation` for the cases and the results folder and
:mod:`goodregions.runtime.evaluation_report` for the report.
"""

from __future__ import annotations

from .arg_types import odd_int, positive_int
from .deblur_command import collect_inputs

__all__ = ["add_evaluate_parser", "run_evaluate"]


def _images(args):
    if args.subset is not None:
        from goodregions.export.split import load_split

        return sorted(load_split(data_root=args.data)[args.subset], key=lambda path: (path.parent.name, path.name))
    return collect_inputs(args.images)


def run_evaluate(args):
    """Handler of ``goodregions evaluate``; prints the summary table and returns 0."""
    from .evaluation import EvaluationSettings, parse_selectors, run_evaluation
    from .image_io import read_kernels

    settings = EvaluationSettings(selectors=parse_selectors(args.selectors), kernel_size=args.kernel_size, prior=args.prior,
                                  noise_sigma=args.noise, seed=args.seed, rotate_kernels=args.rotate_kernels)
    images = _images(args)
    if args.limit is not None:
        images = images[: args.limit]
    kernels = read_kernels(args.kernels, rotate=args.rotate_kernels, name="--kernels folder")
    result = run_evaluation(images, kernels, args.out, settings=settings, model=args.model, workers=args.workers,
                            grids=args.grids, overwrite=args.overwrite)
    report = result["report"]
    print(report["table"])
    print()
    for check in report["checks"]:
        verdict = {True: "met", False: "NOT met", None: "not decided"}[check["met"]]
        print(f"check {check['check']} ({check['selector']}): {verdict}: {check['text']}")
    print(f"\n{result['computed']} cases computed, {result['skipped']} already done, in {result['seconds']:.0f} s; "
          f"results.json, summary.md, er_curves.png and grids/ in {args.out}/")
    return 0


def add_evaluate_parser(commands):
    """Add the ``evaluate`` subcommand to the ``goodregions`` subparsers ``commands``."""
    from goodregions.kernels_fast import PRIORS

    from .defaults import PRIOR
    from .evaluation_case import EVALUATION_SELECTORS

    evaluate = commands.add_parser("evaluate", help="compare window selectors on synthetic blur with known kernels (ER, PSNR, SSIM)")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", nargs="+", metavar="PATH", help="sharp image files, folders or glob patterns (not training images)")
    source.add_argument("--subset", choices=("dev", "validation"),
                        help="a subset of the committed split: dev to choose settings on, validation to report")
    evaluate.add_argument("--data", metavar="DIR", help="the shared data folder (default: $GOODREGIONS_DATA or ../shared/data)")
    evaluate.add_argument("--kernels", required=True, metavar="DIR", help="folder of true blur kernels, every *.npy in it")
    evaluate.add_argument("--rotate-kernels", action="store_true",
                          help="the files store correlation kernels, as Levin's do: rotate them by 180 degrees")
    evaluate.add_argument("--noise", type=float, default=0.01, metavar="SIGMA", help="Gaussian noise on the [0, 1] scale (default 0.01)")
    evaluate.add_argument("--selectors", default=",".join(EVALUATION_SELECTORS), metavar="LIST",
                          help=f"comma-separated, from {','.join(EVALUATION_SELECTORS)} (default: all)")
    evaluate.add_argument("--kernel-size", type=odd_int, default=31, metavar="N", help="odd support of the estimates (default 31)")
    evaluate.add_argument("--prior", choices=PRIORS, default=PRIOR, help=f"estimation prior (default {PRIOR})")
    evaluate.add_argument("--model", metavar="ONNX", help="window scorer of cnn (default $GOODREGIONS_MODEL or the bundled one)")
    evaluate.add_argument("--workers", type=positive_int, metavar="N", help="processes (default: all cores)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the noise and of the random selector (default 0)")
    evaluate.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N images (quick check)")
    evaluate.add_argument("--grids", type=int, default=4, metavar="N", help="picture grids of N cases in grids/ (default 4)")
    evaluate.add_argument("--out", required=True, metavar="RESULTS_DIR", help="results folder (resumable)")
    evaluate.add_argument("--overwrite", action="store_true", help="delete the folder's evaluation files and start over")
    evaluate.set_defaults(handler=run_evaluate)
    return evaluate
