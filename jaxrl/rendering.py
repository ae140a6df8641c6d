"""Evaluation episodes as a GIF or video (``jaxrl eval --video``).

The episodes are ``jaxrl.evaluation.record``'s, so a rendered episode is one the
evaluation scored, with the same return. Frames come from the env's ``render`` (one
state at a time, on the host): gymnasium's renderer for classic control, MuJoCo's for
brax (offscreen, ``MUJOCO_GL=egl``), and the observation itself for image envs
(MinAtar, bsuite's Catch).
"""
from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence

import jax
import numpy as np

#: image observations are scaled up to at least this many pixels on their short side
MIN_SIDE = 160
#: one colour per observation channel (the background is black)
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                    [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                    [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255]],
                   np.uint8)


class RenderError(RuntimeError):
    """An env that cannot draw its states here (no renderer, no OpenGL, a missing
    package); the message says which and what to do."""


def observation_frame(obs: Any) -> np.ndarray:
    """An RGB frame of an image observation ``[H, W, C]`` or ``[H, W]``: three channels
    as RGB (uint8, or floats in [0, 1]), any other count one colour per channel (the
    last set channel wins)."""
    obs = np.asarray(obs)
    if obs.ndim == 2:
        obs = obs[..., None]
    if obs.ndim != 3:
        raise NotImplementedError(f"observations of shape {obs.shape} are not an image")
    if obs.shape[-1] == 3 and obs.dtype == np.uint8:
        rgb = obs
    elif obs.shape[-1] == 3 and obs.max(initial=0) <= 1.0 and obs.min(initial=0) >= 0.0:
        rgb = (obs * 255).round().astype(np.uint8)
    else:
        on = obs > 0
        last = obs.shape[-1] - 1 - np.argmax(on[..., ::-1], axis=-1)
        rgb = np.where(on.any(-1, keepdims=True), PALETTE[last % len(PALETTE)], 0)
        rgb = rgb.astype(np.uint8)
    scale = max(1, -(-MIN_SIDE // min(rgb.shape[:2])))
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def episode_frames(env, env_params: Any, states: Any, active: np.ndarray,
                   episode: int = 0) -> List[np.ndarray]:
    """The frames of one recorded episode (``evaluation.record``'s states and flags)."""
    steps = np.flatnonzero(np.asarray(active)[:, episode])
    frames = []
    for t in steps:
        state = jax.tree.map(lambda x: x[t, episode], states)
        try:
            frames.append(np.asarray(env.render(state, env_params)))
        except NotImplementedError as exc:
            raise RenderError(f"{exc}: `--video` draws gymnax classic control, image "
                              f"envs (MinAtar, bsuite) and brax") from exc
    return frames


def write_video(path: str, frames: Sequence[np.ndarray], fps: Optional[int] = None) -> str:
    """Writes ``frames`` to ``path``: a looping GIF (``.gif``) or a video imageio knows
    (``.mp4`` with imageio-ffmpeg)."""
    import imageio.v3 as iio

    if not frames:
        raise RenderError("no frames to write: the episode had no steps")
    fps = fps or 30
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    stacked = np.stack([np.asarray(f, np.uint8) for f in frames])
    if path.lower().endswith(".gif"):
        iio.imwrite(path, stacked, duration=1000 / fps, loop=0)
    else:
        iio.imwrite(path, stacked, fps=fps)
    return path
