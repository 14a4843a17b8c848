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
