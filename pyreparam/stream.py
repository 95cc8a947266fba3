"""Streaming inference on the host: audio in, emotion decisions out, through the C
stream API (``pr_stream_*``) that firmware uses, so that ``pyreparam infer --stream``,
``pyreparam listen`` and a microcontroller make the same decisions bit for bit.

    model = StreamModel.from_file("model.prq")
    stream = model.open()                       # CStream (or the NumPy reference)
    for d in stream.push(pcm_int16) + stream.finish():
        print(model.record(d))                  # start/end seconds, label, probabilities

The stream's configuration (window, hop, energy gate) is stored in the .prq
(``meta["stream"]``, written by ``pyreparam quantize``); files quantized before it
existed get the defaults of :func:`pyreparam.quant.qstream.default_config`.
reference/stream.md describes the design.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from pyreparam.audio.features import FeatureConfig, pitch_for_head_only
from pyreparam.quant import qcausal
from pyreparam.quant import qfrontend as qf
from pyreparam.quant import qpitch
from pyreparam.quant import qstream


class StreamError(ValueError):
    """A model or input the stream cannot use."""


def _feature_config(meta: dict) -> FeatureConfig:
    return FeatureConfig.from_dict(meta["feature_config"])


def norm_params(meta: dict) -> qcausal.NormParams:
    """The causal normalization's integer constants of a .prq (StreamError without)."""
    from pyreparam.quant.deploy import DeployError, norm_params_from_meta
    try:
        return norm_params_from_meta(meta)
    except (DeployError, KeyError, TypeError, ValueError) as exc:
        raise StreamError(f"the model cannot stream: {exc}") from None


def network_reads_pitch(meta: dict, fc: FeatureConfig | None = None) -> bool:
    """Whether a .prq's network reads the pitch channels (trained with --pitch): false
    without them and for a model whose pitch channels feed only its statistics head
    (--pitch-head-only: the network reads the mel bands). ``fc``: the .prq's feature
    configuration, when already parsed."""
    fc = _feature_config(meta) if fc is None else fc
    return fc.pitch and not pitch_for_head_only(fc, int(meta["model_config"]["n_mels"]))


def stream_pitch_tables(meta: dict, fc: FeatureConfig | None = None
                        ) -> qpitch.PitchTables | None:
    """The pitch track's constants for a model whose network reads the pitch channels,
    else None (the stream then computes the log-mel bands alone)."""
    fc = _feature_config(meta) if fc is None else fc
    return qpitch.pitch_tables(fc.sample_rate) if network_reads_pitch(meta, fc) else None


def stream_config(meta: dict, params: qcausal.NormParams | None = None,
                  fc: FeatureConfig | None = None) -> qstream.StreamConfig:
    """The stream configuration stored in a .prq's metadata, else the defaults. The
    stream runs the network alone: a statistics head needs whole utterances, and a
    model whose pitch channels feed only that head streams its mel bands."""
    stored = meta.get("stream")
    if stored:
        return qstream.StreamConfig(**{k: int(stored[k]) for k in qstream.StreamConfig._fields})
    params = norm_params(meta) if params is None else params
    fc = _feature_config(meta) if fc is None else fc
    # the gate follows the log-mel bands' prior (not the pitch channels after them)
    return qstream.default_config(int(meta["t_max"]), fc.hop_length, fc.sample_rate,
                                  params.prior_mean[:fc.n_mels])


def stream_meta(meta: dict) -> dict | None:
    """``meta["stream"]`` for a new .prq (None when the model has no prior)."""
    try:
        return stream_config(dict(meta, stream=None)).to_dict()
    except StreamError:
        return None


@dataclasses.dataclass
class StreamModel:
    """A .prq with everything its stream needs."""

    program: object
    meta: dict
    blob: bytes
    params: qcausal.NormParams
    tables: qf.FrontendTables
    config: qstream.StreamConfig
    feature_config: FeatureConfig
    pitch: qpitch.PitchTables | None = None   # the pitch channels' constants

    @property
    def bands(self) -> int:
        """Columns of the model's input = bands of the normalization state (the mel
        bands, and the pitch channels when the network reads them)."""
        return int(self.meta["model_config"]["n_mels"])

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "StreamModel":
        from pyreparam.quant.prq import load_prq
        if not str(path).endswith(".prq"):
            raise StreamError(f"{path}: streaming needs an int8 model (.prq from "
                              "`pyreparam quantize`)")
        program, meta, blob = load_prq(path)
        return cls.from_parts(program, meta, blob, str(path))

    @classmethod
    def from_parts(cls, program, meta: dict, blob: bytes, name: str = "model"
                   ) -> "StreamModel":
        if "feature_config" not in meta or "normalizer" not in meta:
            raise StreamError(f"{name}: no host metadata (a device copy from "
                              "`pyreparam export`?)")
        fc = _feature_config(meta)
        try:
            tables = qf.frontend_tables(fc)
        except ValueError as exc:
            raise StreamError(f"{name}: the integer front end cannot run its features: "
                              f"{exc}") from None
        pitch = stream_pitch_tables(meta, fc)
        params = norm_params(meta)
        config = stream_config(meta, params, fc)
        try:
            qstream.check_config(config, tables, program.t_max, pitch)
        except ValueError as exc:
            raise StreamError(f"{name}: {exc}") from None
        return cls(program, meta, blob, params, tables, config, fc, pitch)

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes") or
                    [f"class{i}" for i in range(self.program.tensors[self.program.output].cols)])

    @property
    def sample_rate(self) -> int:
        return self.feature_config.sample_rate

    def open(self, state: bytes | None = None, use_c: bool | None = None):
        """A fresh stream: the C one (default when the extension is built) or the NumPy
        reference; ``state``: a normalization state to start from."""
        from pyreparam import native
        if use_c is None:
            use_c = native.available()
        if state is not None:
            try:
                qcausal.state_from_bytes(bytes(state), self.bands)
            except qcausal.StateError as exc:
                raise StreamError(str(exc)) from None
        if use_c:
            from pyreparam.quant.cstream import CStream
            return CStream(self.blob, self.params, self.tables, self.config,
                           self.program.arena_bytes, state, self.pitch)
        return qstream.ReferenceStream(self.program, self.params, self.tables, self.config,
                                       state, self.pitch)

    def frame_span(self, start: int, end: int) -> tuple[float, float]:
        """Seconds of audio that frames [start, end) cover."""
        hop, win = self.config.hop_samples, self.tables.win_length
        return start * hop / self.sample_rate, ((end - 1) * hop + win) / self.sample_rate

    def record(self, d: qstream.Decision) -> dict:
        """A decision for people and JSON: times, label, probabilities."""
        start, end = self.frame_span(d.start_frame, d.end_frame)
        rec = {"start": round(start, 3), "end": round(end, 3),
               "frames": [d.start_frame, d.end_frame], "active_frames": d.active_frames,
               "gated": d.gated, "state_updated": d.updated, "final": d.final}
        if d.gated:
            return dict(rec, emotion=None, probabilities=None, logits=None)
        o = self.meta["output"]
        z = o["scale"] * (np.asarray(d.logits, dtype=np.float64) - o["zero_point"])
        p = np.exp(z - z.max())
        p /= p.sum()
        return dict(rec, emotion=self.classes[d.label], logits=list(d.logits),
                    probabilities={c: round(float(v), 6) for c, v in zip(self.classes, p)})


def read_pcm(model: StreamModel, path: str | os.PathLike) -> np.ndarray:
    """An audio file as int16 PCM at the model's rate (16-bit PCM files exactly)."""
    from pyreparam.audio.decode import load_audio
    signal = load_audio(path, sample_rate=model.sample_rate, max_seconds=None,
                        min_seconds=None)
    return qf.pcm16(signal)


def stream_pcm(model: StreamModel, pcm: np.ndarray, state: bytes | None = None,
               use_c: bool | None = None, block: int = 16000):
    """(decisions, final state) of a whole int16 signal pushed in blocks."""
    stream = model.open(state, use_c)
    decisions = []
    for i in range(0, max(pcm.size, 1), block):
        decisions += stream.push(pcm[i:i + block])
    decisions += stream.finish()
    return decisions, stream.state


def read_raw_blocks(stream, block_bytes: int) -> Iterable[np.ndarray]:
    """int16 little-endian blocks from a binary stream (stdin) until EOF; an odd last
    byte is dropped."""
    carry = b""
    while True:
        data = stream.read1(block_bytes) if hasattr(stream, "read1") else \
            stream.read(block_bytes)
        if not data:
            return
        data = carry + data
        cut = len(data) - len(data) % 2
        carry = data[cut:]
        if cut:
            yield np.frombuffer(data[:cut], dtype="<i2").astype(np.int16)


def listen(model: StreamModel, source, emit: Callable[[dict], None],
           state: bytes | None = None, block_samples: int = 1600) -> bytes:
    """Decisions of raw 16-bit mono PCM read from ``source`` (a binary file object) as
    they are made, each passed to ``emit``; at EOF (or Ctrl-C) the last window.
    Returns the final normalization state."""
    stream = model.open(state)
    try:
        for pcm in read_raw_blocks(source, 2 * block_samples):
            for d in stream.push(pcm):
                emit(model.record(d))
    except KeyboardInterrupt:
        pass
    for d in stream.finish():
        emit(model.record(d))
    return stream.state


def format_record(rec: dict) -> str:
    """One line of a timeline."""
    span = f"{rec['start']:8.2f} - {rec['end']:8.2f} s"
    if rec["gated"]:
        return f"{span}  (no speech: {rec['active_frames']} active frames)"
    probs = ", ".join(f"{c} {p:.2f}" for c, p in sorted(rec["probabilities"].items(),
                                                        key=lambda kv: -kv[1]))
    return f"{span}  {rec['emotion']:<10} [{probs}]"


def load_state(path: str | os.PathLike | None, model: StreamModel) -> bytes | None:
    """A stored stream state (validated), or None (a fresh one) when absent."""
    if path is None or not Path(path).exists():
        return None
    data = Path(path).read_bytes()
    try:
        qcausal.state_from_bytes(data, model.bands)
    except qcausal.StateError as exc:
        raise StreamError(f"{path}: {exc}") from None
    return data


def save_state(path: str | os.PathLike | None, state: bytes) -> None:
    if path is not None:
        from pyreparam.models.checkpoint import atomic_write
        atomic_write(Path(path), lambda f: f.write(state))
