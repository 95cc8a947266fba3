r"""NumPy integer reference of the stream: PCM in, decisions out (pr_stream_*).

Oracle of ``csrc/pr_stream_*.c``: for the same model, constants, configuration, state
and samples both give the same decisions (frames, gate, int8 logits) and the same
normalization state bytes, bit for bit, however the samples are pushed.
reference/stream.md writes the design out with its reasons; in short:

Frames
    Frame t covers samples [t hop, t hop + win) of the stream (no padding, no
    trimming): the frames of :func:`pyreparam.audio.features.frame_signal`, computed as
    the samples arrive (:func:`pyreparam.quant.qfrontend.logmel_frames_q8`, int16 Q8).
Normalization
    Each frame is normalized when it is computed, with the state as it is then
    (:func:`pyreparam.quant.qcausal.apply`), into the int8 model input; the window
    holds these int8 rows (not the int16 features: half the RAM). The blend's prior
    weight is n0 window / hop (the state's n counts decided windows, so that n
    windows weigh as n hop / window utterances of the training rule).
Windows
    Frames are grouped in hops ("blocks") of hop_frames; the window holds the last
    window_frames = blocks hop_frames frames. Each time it is full a decision is made,
    then the oldest hop is dropped: windows [k hop, k hop + window), k = 0, 1, ...
Gate
    A frame is active when sum_m x[t, m] >= M gate_q8 (its mean log-mel >= gate_q8);
    a window of T frames is decided when active window >= gate_min_active T (T =
    window: active >= gate_min_active), else it is gated: no model, no update.
Decision
    The model runs over the window (int8 logits, label = argmax, first on ties); the
    state merges, as one update (:func:`pyreparam.quant.qcausal.update_sums`), the
    window's blocks that no decided window merged before (per-block sums of x and
    x^2).
Finish
    At the end, when frames arrived after the last window and at least min_frames are
    held, one last window over the frames held (the last blocks - 1 hops and the
    partial one) is decided the same way.
Pitch channels (a model trained with ``--pitch``; reference/stream.md section 9)
    Columns M and M + 1 of the window (the model's input is M + 2 wide, the state has
    M + 2 bands): frame t's raw log2 F0 and voicing
    (:func:`pyreparam.quant.qpitch.frame_pitch` of its window of the stream's decimated
    signal, exactly the batch track's before the fill). Its window reaches past the
    log-mel frame's last sample (by about one hop), so a frame enters the window when
    both are known (at the end, frames whose pitch window is incomplete are dropped).
    At a decision the pitch of the window's frames is filled across unvoiced frames
    (:func:`~pyreparam.quant.qpitch.fill_unvoiced` over the window's frames) and
    normalized with the state as it is then; the merge adds the filled values of the
    fresh blocks. The gate looks at the log-mel bands only.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from pyreparam.quant import qcausal
from pyreparam.quant import qfrontend as qf
from pyreparam.quant import qpitch
from pyreparam.quant.fixedpoint import INT32_MAX, divide_round_half_away

#: The defaults: a decision every second over the last three seconds.
WINDOW_SECONDS = 3.0
HOP_SECONDS = 1.0
#: A frame is active when its mean log-mel is at most this far below the training
#: prior's mean (reference/stream.md: how it was chosen).
GATE_DB = 15.0
#: A window is decided when at least this fraction of its frames is active.
GATE_MIN_ACTIVE = 0.25
#: pr_stream_finish decides a last window of at least this many seconds.
MIN_SECONDS = 1.0

MAX_CLASSES = 32            # PR_STREAM_MAX_CLASSES
MAX_BLOCKS = 32             # window_frames / hop_frames (the head tracks 32 blocks)
HEAD_BYTES = 352            # sizeof(pr_st_head), csrc/pr_stream_internal.h
PITCH_HEAD_BYTES = 56       # sizeof(pr_st_pitch)
GATED, UPDATED, FINAL = 1, 2, 4   # decision flags


class StreamConfig(NamedTuple):
    """The sizes and thresholds of pr_stream_config (its pointers are the model's)."""
    hop_samples: int        # samples between frames
    window_frames: int      # frames per decision, a multiple of hop_frames
    hop_frames: int         # frames between decisions
    min_frames: int         # shortest last window pr_stream_finish decides
    gate_q8: int            # an active frame's mean log-mel, Q8
    gate_min_active: int    # active frames a full window needs

    @property
    def blocks(self) -> int:
        return self.window_frames // self.hop_frames

    def to_dict(self) -> dict:
        return {k: int(v) for k, v in self._asdict().items()}


class Decision(NamedTuple):
    """One decided or gated window (pr_stream_decision)."""
    start_frame: int
    end_frame: int
    flags: int
    active_frames: int
    label: int              # -1 when gated
    logits: tuple           # the model's int8 logits (output scale; zeros when gated)

    @property
    def gated(self) -> bool:
        return bool(self.flags & GATED)

    @property
    def updated(self) -> bool:
        return bool(self.flags & UPDATED)

    @property
    def final(self) -> bool:
        return bool(self.flags & FINAL)


# ---- configuration ------------------------------------------------------------------

def gate_q8(prior_mean_q16, gate_db: float = GATE_DB) -> int:
    """The gate: the prior's mean log-mel over bands (Q16 -> Q8, rounded half away)
    less gate_db decibels of power (gate_db ln(10) / 10 nats), in Q8."""
    prior = np.asarray(prior_mean_q16, dtype=np.int64)
    mean = int(divide_round_half_away(int(prior.sum()), 256 * prior.size))
    return mean - int(round(gate_db * math.log(10.0) / 10.0 * 256.0))


def default_config(t_max: int, hop_samples: int, sample_rate: int, prior_mean_q16,
                   window_seconds: float = WINDOW_SECONDS, hop_seconds: float = HOP_SECONDS,
                   gate_db: float = GATE_DB, min_active: float = GATE_MIN_ACTIVE,
                   min_seconds: float = MIN_SECONDS) -> StreamConfig:
    """The configuration for a model: window and hop in frames (the window cut to the
    model's T_max and to a multiple of the hop), the gate from the prior."""
    frames_per_second = sample_rate / hop_samples
    window = min(int(round(window_seconds * frames_per_second)), int(t_max))
    hop = max(1, min(int(round(hop_seconds * frames_per_second)), window))
    hop = max(hop, -(-window // MAX_BLOCKS))
    window = window // hop * hop
    min_frames = max(1, min(int(round(min_seconds * frames_per_second)), window))
    return StreamConfig(int(hop_samples), window, hop, min_frames,
                        gate_q8(prior_mean_q16, gate_db),
                        int(math.ceil(min_active * window)))


def pitch_lag_frames(pitch: qpitch.PitchTables, tables: qf.FrontendTables,
                     hop_samples: int) -> int:
    """How many frames one of the two tracks (log-mel, pitch) can be ahead of the other,
    at most (the capacity of each track's queue; pr_st_pitch_lag). Frame t's log-mel is
    complete at sample t hop + win, its pitch at d (start_t + w - 1) + 10 d + 1, with
    d start_t within d of t hop + (win - w d + d) / 2: the two differ by less than
    |w d - win + 19 d + 2| / 2 + d samples."""
    d, w, win = pitch.factor, pitch.width, tables.win_length
    return (abs(w * d - win + 19 * d + 2) + 2 * d) // (2 * hop_samples) + 3


def check_config(cfg: StreamConfig, tables: qf.FrontendTables, t_max: int,
                 pitch: qpitch.PitchTables | None = None) -> None:
    """ValueError for a configuration pr_stream_init refuses (sizes only)."""
    if not 1 <= cfg.hop_samples <= tables.win_length:
        raise ValueError(f"hop_samples {cfg.hop_samples} outside 1..{tables.win_length}")
    if cfg.hop_frames < 1 or cfg.window_frames % cfg.hop_frames or \
            not 1 <= cfg.blocks <= MAX_BLOCKS:
        raise ValueError(f"window {cfg.window_frames} frames must be 1..{MAX_BLOCKS} hops "
                         f"of {cfg.hop_frames} frames")
    if cfg.window_frames > t_max:
        raise ValueError(f"window {cfg.window_frames} frames > the model's T_max {t_max}")
    if not 1 <= cfg.min_frames <= cfg.window_frames or \
            not 0 <= cfg.gate_min_active <= cfg.window_frames:
        raise ValueError(f"min_frames / gate_min_active out of range: {cfg}")
    if pitch is not None:
        lag = pitch_lag_frames(pitch, tables, cfg.hop_samples)
        if cfg.hop_frames <= lag:
            raise ValueError(f"with the pitch channels a hop must be more than {lag} "
                             f"frames (the tracks' lag), got {cfg.hop_frames}")
        if -qpitch.window_start(0, pitch, tables.win_length, cfg.hop_samples) >= pitch.width:
            raise ValueError("the first frame's pitch window lies before the stream")


def _round8(v: int) -> int:
    return (v + 7) // 8 * 8


def stream_bytes(cfg: StreamConfig, tables: qf.FrontendTables, arena_bytes: int,
                 pitch: qpitch.PitchTables | None = None) -> int:
    """Bytes of stream memory (pr_stream_bytes): head, PCM tail, normalization
    coefficients, per-block sums, the int8 window and the work area (the model's arena,
    shared with the front end's scratch); with pitch, its regions (pr_st_layout_of)."""
    M = tables.n_mels
    C = M + (2 if pitch is not None else 0)
    scratch = 2 * tables.n_fft + 2
    work = max(arena_bytes, 4 * scratch + 2 * M, 16 * C)
    total = (_round8(HEAD_BYTES) + _round8(2 * tables.win_length) + _round8(12 * C) +
             _round8(12 * cfg.blocks * M) + _round8(cfg.window_frames * C))
    if pitch is not None:
        lag = pitch_lag_frames(pitch, tables, cfg.hop_samples)
        work = max(work, 4 * cfg.window_frames)
        total += (_round8(PITCH_HEAD_BYTES) + _round8(4 * cfg.window_frames) + _round8(2 * lag * M) + _round8(4 * lag)
                  + _round8(2 * (20 * pitch.factor + 1)) + _round8(4 * pitch.width))
    return total + _round8(work)


def stream_params(params: qcausal.NormParams, cfg: StreamConfig) -> qcausal.NormParams:
    """The normalization constants the stream applies: n0 times window / hop."""
    n0 = int(divide_round_half_away(params.prior_weight * cfg.window_frames, cfg.hop_frames))
    return params._replace(prior_weight=min(n0, INT32_MAX))


# ---- the reference stream -----------------------------------------------------------

class ReferenceStream:
    """The NumPy twin of a C stream: push int16 PCM, get :class:`Decision` records.

    Parameters
    ----------
    program : the model's integer program (:func:`pyreparam.quant.qmodel.run_program`)
    params : the model's causal-normalization constants (qcausal.NormParams)
    tables : the front end's tables (qfrontend.FrontendTables)
    cfg : StreamConfig
    state : bytes, optional
        A serialized normalization state (default: a device that heard nothing).
    pitch : qpitch.PitchTables, optional
        The pitch track's constants, for a model with the two pitch channels.
    """

    def __init__(self, program, params: qcausal.NormParams, tables: qf.FrontendTables,
                 cfg: StreamConfig, state: bytes | None = None,
                 pitch: qpitch.PitchTables | None = None):
        from pyreparam.quant.qmodel import run_program
        check_config(cfg, tables, program.t_max, pitch)
        self._run = lambda x: run_program(program, x)
        self.cfg, self.tables, self.pitch = cfg, tables, pitch
        self.params = stream_params(params, cfg)
        M = tables.n_mels
        self.M = M
        self.C = M + (2 if pitch is not None else 0)        # model input, state bands
        self.n_classes = program.tensors[program.output].cols
        self._state = qcausal.new_state(self.C) if state is None else \
            qcausal.state_from_bytes(bytes(state), self.C)
        self.tail = np.zeros(0, dtype=np.int16)
        self.window = np.zeros((cfg.window_frames, self.C), dtype=np.int8)
        self.S1 = np.zeros((cfg.blocks, M), dtype=np.int64)
        self.S2 = np.zeros((cfg.blocks, M), dtype=np.int64)
        self.active = np.zeros(cfg.blocks, dtype=np.int64)
        self.merged = np.zeros(cfg.blocks, dtype=bool)
        self.fill = 0
        self.frames = 0
        self.last_end = 0
        self.finished = False
        if pitch is not None:
            d = pitch.factor
            self.raw_pitch = np.zeros((cfg.window_frames, 2), dtype=np.int64)
            self.mel_queue = np.zeros((0, M), dtype=np.int16)    # log-mel awaiting pitch
            self.pitch_queue = np.zeros((0, 2), dtype=np.int64)  # pitch awaiting log-mel
            self.dec = np.zeros(10 * d, dtype=np.int64)          # samples from d j - 10 d
            start = qpitch.window_start(0, pitch, tables.win_length, cfg.hop_samples)
            self.y = np.zeros(max(0, -start), dtype=np.int64)    # from frame t's start
            self.y_skip = max(0, start)
            self.pitch_frames = 0

    @property
    def state(self) -> bytes:
        return qcausal.state_to_bytes(self._state)

    def push(self, pcm) -> list[Decision]:
        """Every decision the samples complete (as many as there are)."""
        if self.finished:
            raise RuntimeError("the stream is finished")
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"pcm must be int16 (n,), got {pcm.dtype} {pcm.shape}")
        win, hop = self.tables.win_length, self.cfg.hop_samples
        self.tail = np.concatenate([self.tail, pcm])
        n_frames = 1 + (self.tail.size - win) // hop if self.tail.size >= win else 0
        starts = hop * np.arange(n_frames)
        frames = self.tail[starts[:, None] + np.arange(win)[None, :]]  # (F, win)
        self.tail = self.tail[n_frames * hop:]
        X = qf.logmel_frames_q8(frames, self.tables) if n_frames else \
            np.zeros((0, self.M), dtype=np.int16)                        # (F, M) int16
        if self.pitch is None:
            return self._add(X)
        return self._pair(X, pcm)

    def _pair(self, X: np.ndarray, pcm: np.ndarray) -> list[Decision]:
        """Queue the new log-mel frames and pitch frames; add the frames both know."""
        self.mel_queue = np.concatenate([self.mel_queue, X])
        self.pitch_queue = np.concatenate([self.pitch_queue, self._pitch_frames(pcm)])
        k = min(len(self.mel_queue), len(self.pitch_queue))
        X, P = self.mel_queue[:k], self.pitch_queue[:k]
        self.mel_queue, self.pitch_queue = self.mel_queue[k:], self.pitch_queue[k:]
        return self._add(X, P)

    def _pitch_frames(self, pcm: np.ndarray) -> np.ndarray:
        """Raw (octaves, voicing) of every pitch frame the new samples complete."""
        pt, d = self.pitch, self.pitch.factor
        n_taps = pt.taps.size                                            # 20 d + 1
        self.dec = np.concatenate([self.dec, pcm.astype(np.int64)])
        count = max(0, (self.dec.size - n_taps) // d + 1)
        y = qpitch.decimate_from(self.dec, count, pt)      # dec[0] is s[d j - 10 d]
        self.dec = self.dec[count * d:]
        drop = min(self.y_skip, y.size)
        self.y_skip -= drop
        self.y = np.concatenate([self.y, y[drop:]])
        out = []
        while self.y.size >= pt.width:
            z = qpitch.remove_mean(self.y[None, :pt.width])
            octaves, voicing = qpitch.frame_pitch(z, pt)
            out.append((int(octaves[0]), int(voicing[0])))
            t = self.pitch_frames
            self.pitch_frames += 1
            win, hop = self.tables.win_length, self.cfg.hop_samples
            adv = int(qpitch.window_start(t + 1, pt, win, hop) -
                      qpitch.window_start(t, pt, win, hop))
            self.y_skip = max(0, adv - self.y.size)
            self.y = self.y[adv:]
        return np.array(out, dtype=np.int64).reshape(-1, 2)

    def _add(self, X: np.ndarray, P: np.ndarray | None = None) -> list[Decision]:
        cfg, out, i = self.cfg, [], 0
        while i < X.shape[0]:
            chunk = X[i:i + cfg.window_frames - self.fill]              # one state
            T = chunk.shape[0]
            rows = np.arange(self.fill, self.fill + T)
            self.window[rows, :self.M] = self._normalize(chunk, 0)
            if P is not None:
                self.raw_pitch[rows] = P[i:i + T]
            x = chunk.astype(np.int64)
            blocks = rows // cfg.hop_frames
            np.add.at(self.S1, blocks, x)
            np.add.at(self.S2, blocks, x * x)
            np.add.at(self.active, blocks, (x.sum(axis=1) >= cfg.gate_q8 * self.M))
            self.fill += T
            self.frames += T
            i += T
            if self.fill == cfg.window_frames:
                out.append(self._decide(0))
                self._drop_hop()
        return out

    def _normalize(self, x: np.ndarray, first: int) -> np.ndarray:
        """int8 of the columns first .. first + x.shape[1] of the C bands (each band is
        normalized on its own)."""
        full = np.zeros((x.shape[0], self.C), dtype=np.int64)
        full[:, first:first + x.shape[1]] = x
        return qcausal.apply(self._state, self.params, full)[:, first:first + x.shape[1]]

    def _decide(self, flags: int) -> Decision:
        cfg, T = self.cfg, self.fill
        nb = -(-T // cfg.hop_frames)
        active = int(self.active[:nb].sum())
        start, end = self.frames - T, self.frames
        self.last_end = self.frames
        zeros = (0,) * self.n_classes
        if active * cfg.window_frames < cfg.gate_min_active * T:
            return Decision(start, end, flags | GATED, active, -1, zeros)
        rows_of = lambda b: np.arange(b * cfg.hop_frames, min((b + 1) * cfg.hop_frames, T))
        fresh = [b for b in range(nb) if not self.merged[b]]
        if self.pitch is not None:              # fill over the window, normalize now
            raw = self.raw_pitch[:T]
            pv = np.stack([qpitch.fill_unvoiced(raw[:, 0], raw[:, 1]), raw[:, 1]], axis=1)
            self.window[:T, self.M:] = self._normalize(pv, self.M)
        logits = self._run(np.ascontiguousarray(self.window[:T]))
        label = int(np.argmax(logits))
        count = sum(rows_of(b).size for b in fresh)
        if count:
            S1, S2 = self.S1[fresh].sum(axis=0), self.S2[fresh].sum(axis=0)
            if self.pitch is not None:
                v = pv[np.concatenate([rows_of(b) for b in fresh])]
                S1, S2 = np.concatenate([S1, v.sum(axis=0)]), np.concatenate([S2, (v * v).sum(axis=0)])
            self._state = qcausal.update_sums(self._state, S1, S2, count)
            self.merged[fresh] = True
            flags |= UPDATED
        return Decision(start, end, flags, active, label, tuple(int(v) for v in logits))

    def _drop_hop(self) -> None:
        h = self.cfg.hop_frames
        self.window[:-h] = self.window[h:].copy()
        if self.pitch is not None:
            self.raw_pitch[:-h] = self.raw_pitch[h:].copy()
        for a in (self.S1, self.S2, self.active, self.merged):
            a[:-1] = a[1:].copy()
            a[-1] = 0
        self.fill -= h

    def finish(self) -> list[Decision]:
        """The last window (see the module doc); the stream is finished afterwards."""
        if self.finished:
            raise RuntimeError("the stream is finished")
        self.finished = True
        if self.frames > self.last_end and self.fill >= self.cfg.min_frames:
            return [self._decide(FINAL)]
        return []


__all__ = ["Decision", "FINAL", "GATED", "GATE_DB", "GATE_MIN_ACTIVE", "HOP_SECONDS",
           "MIN_SECONDS", "ReferenceStream", "StreamConfig", "UPDATED", "WINDOW_SECONDS",
           "check_config", "default_config", "gate_q8", "pitch_lag_frames",
           "stream_bytes", "stream_params"]
