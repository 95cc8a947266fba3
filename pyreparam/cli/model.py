"""Commands on model files: ``init``, ``merge`` and ``models``."""
from __future__ import annotations

import json

import click
import numpy as np

from pyreparam.cli.types import FiniteFloat
from pyreparam.models import (
    BACKBONES, HRF_SITES, SIZES, CheckpointError, HRFConfig, build_model,
    load_checkpoint_with_meta, macs_per_second, make_config, save_checkpoint)
from pyreparam.reparam import MergeError, merge, verify_merge


def hrf_options(f):
    """The HRF options shared by ``init`` and ``train``."""
    options = [
        click.option("--hrf", "hrf_r", type=click.Choice(["1", "2", "4", "8"]), default=None,
                     help="Train with HRF factors of expansion R (inner width R*C). "
                          "Omit for no HRF."),
        click.option("--hrf-factors", type=click.IntRange(1, 3), default=1, show_default=True,
                     help="Number of HRF factors k in each chain."),
        click.option("--hrf-sites", default="ffn", show_default=True,
                     help=f"Comma-separated HRF sites: {', '.join(HRF_SITES)} "
                          "(ffn = the paper's, before each FFN)."),
        click.option("--hrf-init", type=click.Choice(["xavier", "identity"]), default="xavier",
                     show_default=True, help="Factor initialization."),
        click.option("--hrf-bias/--no-hrf-bias", default=True, show_default=True,
                     help="Give each HRF factor a bias."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def hrf_from_options(hrf_r, hrf_factors, hrf_sites, hrf_init, hrf_bias) -> HRFConfig | None:
    if hrf_r is None:
        return None
    sites = tuple(s.strip() for s in hrf_sites.split(",") if s.strip())
    try:
        return HRFConfig(r=int(hrf_r), k=hrf_factors, bias=hrf_bias, init=hrf_init, sites=sites)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--hrf-sites") from None


@click.command("init")
@click.option("--backbone", type=click.Choice(BACKBONES), required=True,
              help="Which Transformer.")
@click.option("--size", type=click.Choice(SIZES), default="light", show_default=True,
              help="light or large preset.")
@hrf_options
@click.option("--classes", type=click.IntRange(2), default=4, show_default=True,
              help="Number of emotion classes N.")
@click.option("--mels", type=click.IntRange(1), default=None,
              help="Mel bands M (default: the preset's, 64; 128 for the large SpeechFormer).")
@click.option("--pitch/--no-pitch", default=False, show_default=True,
              help="Two more input channels after the mel bands (log2 pitch and voicing, "
                   "as `train --pitch`). The checkpoint then records its front end (the "
                   "default features with pitch; classes class0..) so that quantize, "
                   "export and the device's stream compute the pitch channels.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the random initialization.")
@click.option("-o", "--out", "--output", "output", type=click.Path(dir_okay=False),
              required=True,
              help="Checkpoint to write (.npz).")
def init_command(backbone, size, hrf_r, hrf_factors, hrf_sites, hrf_init, hrf_bias, classes,
                 mels, pitch, seed, output):
    """Write a randomly initialized checkpoint (for audits, tests and benchmarks)."""
    from pyreparam.audio.features import FeatureConfig
    hrf = hrf_from_options(hrf_r, hrf_factors, hrf_sites, hrf_init, hrf_bias)
    overrides = {"n_classes": classes}
    if mels is not None:
        overrides["n_mels"] = mels
    meta = {"created_by": "pyreparam init", "seed": seed}
    try:
        config = make_config(backbone, size, hrf=hrf, **overrides)
        if pitch:          # the model's input: the mel bands, then the pitch channels
            features = FeatureConfig(n_mels=config.n_mels, pitch=True)
            config = make_config(backbone, size, hrf=hrf,
                                 **{**overrides, "n_mels": features.channels})
            meta.update(feature_config=features.to_dict(),
                        classes=[f"class{i}" for i in range(classes)])
        model = build_model(config, seed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    save_checkpoint(output, model, meta=meta)
    click.echo(f"wrote {output}: {backbone} {size}, {model.n_params():,} parameters"
               + (f", HRF r={hrf.r} k={hrf.k} sites={','.join(hrf.sites)}" if hrf else "")
               + (", pitch channels" if pitch else ""))


@click.command("merge")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--tol", type=FiniteFloat(0), default=None,
              help="Largest relative logit difference accepted, evaluated in float64 "
                   "[default: 1e-10 for float64 checkpoints; 1e-5 for float32 ones, whose "
                   "merged weights are rounded to float32].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the random verification batches.")
def merge_command(source, target, tol, seed):
    """Fold the HRF factors of SOURCE into their linear layers (deHRF), write TARGET.

    Before writing, the merged model is checked against the original on random padded
    batches of several lengths (float64, eval mode); the command fails when the
    relative logit difference exceeds --tol, or when SOURCE has no HRF factors.
    """
    try:
        model, meta, extra = load_checkpoint_with_meta(source)
        merged = merge(model)
    except (CheckpointError, MergeError) as exc:
        raise click.ClickException(str(exc)) from None
    if tol is None:
        tol = 1e-10 if model.dtype == np.float64 else 1e-5
    max_abs, max_rel = verify_merge(model, merged, seed=seed)
    click.echo(f"parameters: {model.n_params():,} (training form) -> {merged.n_params():,} "
               f"(merged)")
    click.echo(f"logit difference, merged vs original: max abs {max_abs:.3e}, "
               f"max rel {max_rel:.3e} (tolerance {tol:.1e})")
    if not max_rel <= tol:
        raise click.ClickException("the merged model does not match the original; "
                                   "nothing written")
    # the front end (classes, features, normalizer) and everything else travel along
    save_checkpoint(target, merged, meta={**meta, "merged_by": "pyreparam merge",
                                          "source": str(source)}, extra=extra)
    click.echo(f"wrote {target}")


def model_table(r: int = 4) -> list[dict]:
    """One row per backbone x size: parameters with HRF (r) and merged, MACs per second."""
    rows = []
    for backbone in BACKBONES:
        for size in SIZES:
            config = make_config(backbone, size, hrf=HRFConfig(r=r))
            train = build_model(config, 0)
            deployed = build_model(config.without_hrf(), 0)
            rows.append({
                "backbone": backbone, "size": size, "hrf_r": r,
                "params_hrf": train.n_params(), "params_merged": deployed.n_params(),
                "macs_per_s_hrf": macs_per_second(config, train.params),
                "macs_per_s_merged": macs_per_second(deployed.config, deployed.params),
            })
    return rows


@click.command("models")
@click.option("--hrf", "r", type=click.Choice(["1", "2", "4", "8"]), default="4",
              show_default=True, help="HRF expansion r of the training form.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
def models_command(r, as_json):
    """Parameters and MACs per second of audio of every backbone and size.

    Training form = with HRF at the default site (ffn), k = 1; merged = deployed form
    (identical to the model built without HRF). MACs are over a 3 s utterance, divided
    by 3.
    """
    rows = model_table(int(r))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    head = (f"{'backbone':<16}{'size':<7}{'params (HRF r=' + r + ')':>19}{'params (merged)':>17}"
            f"{'MMAC/s (HRF)':>14}{'MMAC/s (merged)':>17}")
    click.echo(head)
    click.echo("-" * len(head))
    for row in rows:
        click.echo(f"{row['backbone']:<16}{row['size']:<7}{row['params_hrf']:>19,}"
                   f"{row['params_merged']:>17,}{row['macs_per_s_hrf'] / 1e6:>14.2f}"
                   f"{row['macs_per_s_merged'] / 1e6:>17.2f}")
