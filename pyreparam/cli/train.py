"""Commands ``train`` (speaker-independent cross-validation) and ``eval``."""
from __future__ import annotations

import json
import os

import click

from pyreparam.audio.decode import AudioError
from pyreparam.audio.features import FRONTENDS, FeatureConfig
from pyreparam.cli.model import hrf_from_options, hrf_options
from pyreparam.cli.types import FiniteFloat
from pyreparam.data.cache import DEFAULT_CACHE
from pyreparam.data.manifest import ManifestError
from pyreparam.infer import EVAL_PROTOCOLS, InferenceError, evaluate_model
from pyreparam.quant.prq import PRQError
from pyreparam.train.protocols import DEFAULT_ORDERS, PRIOR_BUCKETS
from pyreparam.models import BACKBONES, SIZES, CheckpointError, make_config
from pyreparam.data.normalize import CAUSAL_DRAWS, CAUSAL_PRIORS
from pyreparam.models.config import POOLINGS
from pyreparam.train.fold import SELECTION_RULES, TrainConfig, TrainingError
from pyreparam.train.run import RunError, RunSpec, format_confusion, format_summary, \
    resume_run, start_run

DEFAULTS = TrainConfig()
# train's recipe (README, "Using it"): a statistics head voting with weight 0.5 when
# the frames are normalized per speaker (causal or speaker), the pitch channels feeding
# that head alone. TrainConfig's own defaults (no head) stay the library's plain setting.
RECIPE_STATS_HEAD = 0.5


@click.command("train")
@click.argument("manifest", type=click.Path(dir_okay=False), required=False)
@click.option("--backbone", type=click.Choice(BACKBONES), default="convtransformer",
              show_default=True, help="Which Transformer to train.")
@click.option("--size", type=click.Choice(SIZES), default="light", show_default=True,
              help="light (fits a microcontroller after int8 quantization) or large.")
@hrf_options
@click.option("--cv", default="loso", show_default=True,
              help="Folds: loso (leave one speaker out), loso:session, groupkfold:N, "
                   "fixed (about 20 % of the speakers held out) or fixed:SPK1,SPK2.")
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True,
              help="Training epochs per fold.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the validation speakers' draw, the initialization and every "
                   "random choice of training (runs with one seed are bit-identical).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False),
              help="Run directory (fold lists, checkpoints, logs, results.json).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the interrupted run in this directory (other options ignored).")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Folds trained in parallel processes, each with cores / N BLAS "
                   "threads. With 1 the BLAS library's own default applies (a thread per "
                   "core): running several trainings side by side, set "
                   "OPENBLAS_NUM_THREADS=1 (or use `pyreparam sweep`), or they crowd each "
                   "other out (measured: 20x slower on 2 cores).")
@click.option("--quiet", is_flag=True, help="No progress bars; only the final summary.")
@click.option("--lr", type=FiniteFloat(0, min_open=True), default=DEFAULTS.lr,
              show_default=True, help="Peak learning rate of AdamW (warmup, then cosine decay).")
@click.option("--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size,
              show_default=True, help="Utterances per training step.")
@click.option("--weight-decay", type=FiniteFloat(0), default=DEFAULTS.weight_decay,
              show_default=True, help="AdamW's decoupled weight decay of the weight matrices (never of "
                   "biases and norms).")
@click.option("--dropout", type=FiniteFloat(0, 1, max_open=True), default=0.1,
              show_default=True, help="Dropout rate of the model while training.")
@click.option("--frontend", type=click.Choice(FRONTENDS), default="float", show_default=True,
              help="Log-mel front end: float (NumPy), or int: the device's integer front "
                   "end (bit-exact with the C pr_logmel_frame_s16), so that the model "
                   "trains on exactly the features a microcontroller computes.")
@click.option("--sample-rate", type=click.IntRange(4000, 96000), default=16000,
              show_default=True,
              help="Rate (Hz) every file is resampled to before the log-mel front end.")
@click.option("--fmax", type=FiniteFloat(0, min_open=True), default=None,
              help="Highest mel band edge in Hz [default: half the sample rate].")
@click.option("--n-mels", type=click.IntRange(8, 256), default=None,
              help="Mel bands of the front end (the model's input width) [default: the "
                   "size's preset, 64].")
@click.option("--pitch/--no-pitch", default=None,
              help="Two more channels per frame after the mel bands: log2 of the pitch "
                   "(F0, 60-500 Hz, interpolated across unvoiced frames) and the voicing "
                   "strength, from the autocorrelation of a 4 kHz copy "
                   "(pyreparam.audio.features.pitch_track; with --frontend int the "
                   "integer track, pyreparam.quant.qpitch) [default: on with a "
                   "statistics head, which reads them (see --pitch-head-only), else "
                   "off].")
@click.option("--pitch-head-only/--pitch-network", default=None,
              help="Where the pitch channels go: only to the statistics head's prosody "
                   "block (the network reads the mel bands: its input, normalization and "
                   "state as without --pitch), or also into the network's input. "
                   "[default: the head only when there is a head (it scored higher on "
                   "EmoDB and EMOVO, README), else the network]. The stream "
                   "(infer --stream, listen, the exported firmware) runs the network "
                   "alone and computes the pitch channels only when the network reads "
                   "them; whole utterances (eval, infer, infer --state) get both.")
@click.option("--ffn", type=click.IntRange(1, 65536), default=None,
              help="Inner width of every feed-forward network [default: the size's preset, "
                   "e.g. 128 for the light ConvTransformer]. A light model widened to the "
                   "training-time parameters of light + HRF (--ffn 448 for the "
                   "ConvTransformer with r = 4) is the control that tells HRF's gain "
                   "from extra capacity.")
@click.option("--pooling", type=click.Choice(POOLINGS), default="mean", show_default=True,
              help="Utterance pooling before the classifier: the mean over valid frames, "
                   "or statistics pooling (mean and standard deviation of each channel).")
@click.option("--normalization", type=click.Choice(["causal", "speaker", "global", "utterance"]),
              default=DEFAULTS.normalization, show_default=True,
              help="Feature normalization, fitted on training data only. speaker: each "
                   "speaker's own unlabelled audio, all at once; causal: as a device "
                   "does, only the speaker's earlier utterances, blended with a prior "
                   "from the training speakers (training draws a random number of the "
                   "speaker's other utterances); global: one mean/std; utterance: each "
                   "file's own.")
@click.option("--prior-weight", type=FiniteFloat(0, min_open=True),
              default=DEFAULTS.prior_weight, show_default=True,
              help="n0 of the causal normalization: after n utterances the running "
                   "statistics get weight n / (n + n0), the training prior the rest.")
@click.option("--causal-draw", type=click.Choice(CAUSAL_DRAWS), default=DEFAULTS.causal_draw,
              show_default=True,
              help="How many of a speaker's other utterances a causal training example "
                   "has heard: uniform in 0..N, or harmonic (P(k) ~ 1/(k+1): more "
                   "first utterances).")
@click.option("--causal-prior", type=click.Choice(CAUSAL_PRIORS),
              default=DEFAULTS.causal_prior, show_default=True,
              help="The prior a causal training example is blended with: pooled (every "
                   "training speaker's, its own included) or held-out (the other "
                   "training speakers', as a new speaker meets the prior on a device).")
@click.option("--validation-speakers", "n_validation", type=click.IntRange(1),
              default=DEFAULTS.n_validation, show_default=True,
              help="Validation speakers per fold, drawn from the training speakers "
                   "(balanced by gender when the manifest gives it).")
@click.option("--select", type=click.Choice(SELECTION_RULES), default=DEFAULTS.select,
              show_default=True,
              help="Model selection on the validation speakers: best (epoch of the "
                   "highest validation UA, first on ties), smooth (highest mean over the "
                   "last --select-window epochs, latest on ties), last (no selection).")
@click.option("--select-window", type=click.IntRange(1), default=DEFAULTS.select_window,
              show_default=True, help="Epochs averaged by --select smooth.")
@click.option("--ema", type=FiniteFloat(0, 1, max_open=True), default=DEFAULTS.ema,
              show_default=True,
              help="Decay of a moving average of the weights, updated every step; "
                   "validation and the saved model use the average (0: off).")
@click.option("--mixup", type=FiniteFloat(0), default=DEFAULTS.mixup,
              show_default=True, help="Mixup alpha (0: off).")
@click.option("--time-masks", type=click.IntRange(0), default=DEFAULTS.time_masks,
              show_default=True,
              help="SpecAugment: time masks per training example (0: none).")
@click.option("--max-time", type=click.IntRange(0), default=DEFAULTS.max_time,
              show_default=True, help="SpecAugment: widest time mask, frames.")
@click.option("--freq-masks", type=click.IntRange(0), default=DEFAULTS.freq_masks,
              show_default=True,
              help="SpecAugment: frequency masks per training example (0: none).")
@click.option("--max-freq", type=click.IntRange(0), default=DEFAULTS.max_freq,
              show_default=True, help="SpecAugment: widest frequency mask, input channels.")
@click.option("--speed-perturb", "speeds", default="", show_default=False,
              help="Speed perturbation factors besides 1, comma-separated, e.g. 0.9,1.1 "
                   "(each training example plays at one of the speeds, uniformly).")
@click.option("--teacher", "teachers", multiple=True, type=click.Path(file_okay=False),
              help="A finished run whose fold models teach this one (knowledge "
                   "distillation; repeat for an ensemble). Its folds must have the same "
                   "test speakers; it scores only this run's training utterances.")
@click.option("--distill", type=FiniteFloat(0, 1), default=DEFAULTS.distill,
              show_default=True,
              help="Weight A of the teachers' soft targets: (1 - A) CE(labels) + A T^2 "
                   "CE(soft targets at T).")
@click.option("--temperature", type=FiniteFloat(0, min_open=True),
              default=DEFAULTS.temperature, show_default=True,
              help="Distillation temperature T.")
@click.option("--stats-head", type=FiniteFloat(0, 1), default=None,
              help="Weight of a statistics head's vote (0: no head) [default: "
                   f"{RECIPE_STATS_HEAD} with causal or speaker normalization, else 0]. "
                   "After each fold's network, a linear classifier on statistics of the "
                   "utterance's log-mel bands and cepstra, over all frames and over the "
                   "speech frames (1,344 for 64 bands; with the pitch channels 7 more "
                   "of the F0 over the voiced speech frames), z-scored per speaker like "
                   "the frames, is fitted on the fold's training and validation "
                   "speakers; the decision is (1 - w) p_network + w p_head, for whole "
                   "utterances, in float and in the int8 runtime (reference/"
                   "stats_head.md).")
@click.option("--stats-head-select", is_flag=True, default=DEFAULTS.stats_head_select,
              help="Choose the statistics head's weight on each fold's validation "
                   "speakers (0, 0.25, 0.5, 0.75 or 1; ties: the one closest to "
                   "--stats-head), with a head fitted on the training speakers alone; "
                   "the final head is then fitted on training and validation speakers.")
@click.option("--hrf-lr-scale", type=FiniteFloat(0), default=1.0, show_default=True,
              help="Learning-rate multiplier of the HRF factors.")
@click.option("--hrf-weight-decay", type=FiniteFloat(0), default=None,
              help="Weight decay of the HRF factors [default: --weight-decay].")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=DEFAULT_CACHE,
              show_default=True, help="Feature cache folder ('none' to disable).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail",
              show_default=True, help="Bad audio files: stop, or skip and list them.")
@click.option("--max-seconds", type=FiniteFloat(0, min_open=True), default=30.0,
              show_default=True,
              help="Longest accepted audio file.")
def train_command(**options):
    """Speaker-independent cross-validation of a backbone on MANIFEST.

    MANIFEST is a CSV (path,label,speaker[,session,gender]), e.g. from `pyreparam data
    manifest` or `pyreparam data synth`. In every fold a validation speaker drawn from
    the training speakers selects the epoch; the test speakers are only used for the
    final evaluation. Interrupted runs continue with --resume RUN_DIR.

    The defaults are the recipe that scored best on both corpora (README): causal
    normalization, a statistics head voting with weight 0.5 and the pitch track's
    prosody functionals for that head alone; --stats-head 0 trains the network alone.

    Reported: WA (weighted accuracy: correct / all test utterances), UA (unweighted
    accuracy: the mean of the per-class recalls) and macro-F1 (the mean of the
    per-class F1 scores), per fold and pooled over folds, for the trained model under
    its own normalization and under the evaluation protocols (speaker: a test
    speaker's utterances normalized together; utterance: each file alone; causal: one
    utterance at a time with what was heard before, as a device does).
    """
    manifest, out_dir, resume_dir = (options[k] for k in ("manifest", "out_dir",
                                                           "resume_dir"))
    jobs, quiet = options["jobs"], options["quiet"]
    try:
        if resume_dir:
            summary = resume_run(resume_dir, jobs=jobs, quiet=quiet, log=click.echo)
        else:
            if not manifest or not out_dir:
                raise click.UsageError("give MANIFEST and --out RUN_DIR (or --resume RUN_DIR)")
            spec = run_spec_from_options(options)
            summary = start_run(spec, out_dir, jobs=jobs, quiet=quiet, log=click.echo)
    except (RunError, ManifestError, AudioError, TrainingError, CheckpointError,
            ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        where = resume_dir or out_dir
        raise click.ClickException(f"interrupted; continue with: pyreparam train --resume "
                                   f"{where}") from None
    click.echo(format_summary(summary))


def run_spec_from_options(o: dict) -> RunSpec:
    """The RunSpec of train's parsed options (its click context's params, by parameter
    name); `pyreparam sweep` builds its runs with it too."""
    recipe = dict(epochs=o["epochs"], seed=o["seed"], lr=o["lr"], batch_size=o["batch_size"],
                  weight_decay=o["weight_decay"], normalization=o["normalization"],
                  prior_weight=o["prior_weight"], causal_draw=o["causal_draw"],
                  causal_prior=o["causal_prior"],
                  n_validation=o["n_validation"], select=o["select"],
                  select_window=o["select_window"], ema=o["ema"], mixup=o["mixup"],
                  speeds=_speeds(o["speeds"]), time_masks=o["time_masks"],
                  max_time=o["max_time"], freq_masks=o["freq_masks"], max_freq=o["max_freq"],
                  teachers=tuple(os.path.abspath(t) for t in o["teachers"]),
                  distill=o["distill"], temperature=o["temperature"],
                  stats_head=_stats_head(o),
                  stats_head_select=o.get("stats_head_select", DEFAULTS.stats_head_select),
                  hrf_lr_scale=o["hrf_lr_scale"], hrf_weight_decay=o["hrf_weight_decay"])
    hrf = hrf_from_options(o["hrf_r"], o["hrf_factors"], o["hrf_sites"], o["hrf_init"],
                           o["hrf_bias"])
    model_options = dict(dropout=o["dropout"], pooling=o["pooling"])
    for name in ("ffn", "n_mels"):
        if o.get(name) is not None:
            model_options[name] = o[name]
    pitch, network_pitch = _pitch(o, recipe["stats_head"] > 0)
    features = dict(frontend=o["frontend"], sample_rate=o.get("sample_rate") or 16000,
                    fmax=o.get("fmax"), pitch=pitch)
    return _run_spec(o["manifest"], o["backbone"], o["size"], hrf, o["cv"], model_options,
                     recipe, o["cache_dir"], o["on_error"], o["max_seconds"], features,
                     network_pitch=network_pitch)


def _stats_head(o: dict) -> float:
    """--stats-head, or the recipe's weight where per-speaker normalization allows a
    head (a head z-scores its functionals per speaker)."""
    if o.get("stats_head") is not None:
        return o["stats_head"]
    return RECIPE_STATS_HEAD if o["normalization"] in ("causal", "speaker") else 0.0


def _pitch(o: dict, head: bool) -> tuple[bool, bool]:
    """(pitch channels in the frames, the network reads them) from --pitch and
    --pitch-head-only / --pitch-network, unset meaning the recipe: pitch with a head,
    for the head alone."""
    pitch, head_only = o.get("pitch"), o.get("pitch_head_only")
    if head_only is not None and pitch is False:
        raise click.BadParameter("--pitch-head-only / --pitch-network say where the pitch "
                                 "channels go: not with --no-pitch",
                                 param_hint="--pitch-head-only")
    if head_only and not head:
        raise click.BadParameter("needs a statistics head (--stats-head above 0): the "
                                 "pitch channels would feed nothing",
                                 param_hint="--pitch-head-only")
    pitch = pitch if pitch is not None else (head or head_only is False)
    if head_only is None:
        head_only = pitch and head
    return pitch, not head_only


def _speeds(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected numbers like 0.9,1.1, got {text!r}",
                                 param_hint="--speed-perturb") from None


def _run_spec(manifest, backbone, size, hrf, cv, model_options: dict, recipe: dict,
              cache_dir, on_error, max_seconds, feature_options: dict | None = None,
              network_pitch: bool = True) -> RunSpec:
    """The run's options; ``model_options`` override the model preset's fields,
    ``recipe`` holds TrainConfig fields, ``feature_options`` FeatureConfig fields (the
    mel bands follow the model's n_mels; the pitch channels widen the model's input
    unless ``network_pitch`` is false: then they feed the statistics head only)."""
    from pyreparam.data.manifest import read_manifest
    classes = sorted({u.label for u in read_manifest(manifest, check_files=False)})
    config = make_config(backbone, size, hrf=hrf, n_classes=len(classes), **model_options)
    tc = TrainConfig(**recipe)
    features = FeatureConfig(n_mels=config.n_mels, **(feature_options or {}))
    if features.channels != config.n_mels and network_pitch:  # they widen its input
        config = make_config(backbone, size, hrf=hrf, n_classes=len(classes),
                             **{**model_options, "n_mels": features.channels})
    if features.frontend == "int":          # its limits, before any folder is written
        from pyreparam.quant.qfrontend import frontend_tables
        frontend_tables(features)
    return RunSpec(manifest=os.path.abspath(manifest), model_config=config.to_dict(),
                   train_config=tc.to_dict(), cv=cv, feature_config=features.to_dict(),
                   cache_dir=None if cache_dir in (None, "none") else cache_dir,
                   on_error=on_error, max_seconds=max_seconds)


@click.command("eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--protocol", type=click.Choice(EVAL_PROTOCOLS), default="model",
              show_default=True,
              help="How each test speaker's features are normalized: speaker (all of the "
                   "speaker's utterances at once: a lab figure), utterance (each file "
                   "alone), causal (as a device hears them: each speaker's utterances in "
                   "--orders random orders, each normalized with only the ones before "
                   "it, plus the training prior), model (the normalization the model was "
                   "trained with).")
@click.option("--orders", type=click.IntRange(1), default=DEFAULT_ORDERS, show_default=True,
              help="Random orders per speaker for --protocol causal.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail",
              show_default=True, help="Bad audio files: stop, or skip and list them.")
def eval_command(model, manifest, protocol, orders, as_json, on_error):
    """WA, UA, macro-F1 and the confusion matrix of MODEL on the utterances of MANIFEST.

    MODEL is a checkpoint (.npz, training form or merged; NumPy) or an int8 model file
    (.prq; the C runtime, with the device's integer causal normalization). WA is the
    accuracy over all utterances, UA the mean of the per-class recalls, macro-F1 the
    mean of the per-class F1 scores. With --protocol causal the report adds the UA by
    the number of utterances heard before (ua_by_prior: "b" holds b to 2b - 1, "32"
    holds 32 and more).
    """
    try:
        report = evaluate_model(model, manifest, protocol=protocol, n_orders=orders,
                                on_error=on_error)
    except (CheckpointError, InferenceError, ManifestError, AudioError, PRQError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"{report['n']} decisions ({report['protocol']} protocol, {report['kind']}): "
               f"WA {100 * report['wa']:.1f} %, UA {100 * report['ua']:.1f} %, "
               f"macro-F1 {100 * report['macro_f1']:.1f} %")
    if "ua_by_prior" in report:
        click.echo("UA by utterances heard before: " + ", ".join(
            f"{k}{'+' if k == str(PRIOR_BUCKETS[-1]) else ''}: {100 * v:.1f}"
            for k, v in report["ua_by_prior"].items()))
    if report["cut_to_t_max"]:
        click.echo(f"note: {report['cut_to_t_max']} file(s) longer than the model's T_max "
                   "were cut to their first T_max frames")
    import numpy as np
    for line in format_confusion(np.array(report["confusion"]), report["classes"]):
        click.echo(line)


@click.command("demo")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="pyreparam-demo",
              show_default=True, help="Folder for the corpus, the runs and demo.json; an "
                                      "interrupted demo continues where it stopped.")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Training epochs per variant [default: the demo's 12].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the synthetic corpus, the split and the training.")
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True,
              help="Variants trained in parallel processes.")
@click.option("--quiet", is_flag=True, help="No progress bars; only the final table.")
def demo_command(out_dir, epochs, seed, jobs, quiet):
    """The main job, no data needed: synthesize an emotional-speech corpus, train the
    light ConvTransformer with and without HRF (r=4) on a speaker-independent split,
    merge the HRF model (deHRF), verify the merge, evaluate both, print a table."""
    from pyreparam.demo import DEMO_TRAIN, DemoError, format_demo, run_demo
    try:
        rows = run_demo(out_dir, seed=seed, epochs=epochs or DEMO_TRAIN["epochs"], jobs=jobs,
                        quiet=quiet, log=click.echo)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("")
    click.echo(format_demo(rows))
    click.echo(f"\nruns, checkpoints and demo.json in {out_dir}/")
