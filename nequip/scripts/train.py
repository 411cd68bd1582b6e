"""``nequip-train CONFIG.yaml [key=value ...]``: train a model; rerunning resumes from last.ckpt."""

import dataclasses
import errno
import logging
import os
import sys
import warnings
from typing import Dict, List, Optional

import lightning as L
import torch
import yaml
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from ..config import ConfigError, TrainConfig, config_to_dict, load_config
from ..config.defaults import default_config_text
from ..data.datamodule import AtomicDataModule
from ..errors import OutputError
from ..model import resolve_model_spec
from ..model.checkpoint import checkpoint_spec
from ..model.io import read_checkpoint
from ..model.fine_tune import fine_tuning_spec
from ..model.spec import DTYPES, ModelSpec
from ..train.lightning_module import NequIPLightningModule, train_config_of
from ..train.resume_check import check_fresh_start, check_resume, existing_checkpoints
from ..train.run_lock import RunLock
from ..train.statistics_handoff import data_fingerprint, shared_statistics
from ..train.trainer import best_checkpoint, build_trainer, checkpoint_dir, last_checkpoint
from ..utils.atomic import atomic_write_text
from ..utils.cli import cli_parser, run_cli
from ..utils.display_units import DISPLAY_UNITS

EXIT_INTERRUPTED = 3

_log = logging.getLogger("nequip.scripts.train")  # not __name__: also run as __main__

# write failures that are the user's to fix (space, quota, permissions), not bugs: one line, exit 2
# ENOTDIR/EEXIST: run_dir (or a folder above it) is an existing regular file
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST}


def _write_error(err: OSError, run_dir: str) -> OutputError:
    where = err.filename or os.path.abspath(run_dir)
    return OutputError(
        f"cannot write {where}: {err.strerror or err}; free disk space or quota, or make run_dir "
        f"{os.path.abspath(run_dir)} writable (or choose another), then rerun to resume from the last complete checkpoint"
    )


def build_datamodule(config: TrainConfig) -> AtomicDataModule:
    data = config.data
    return AtomicDataModule(
        type_names=list(config.type_names),
        r_max=config.r_max,
        train=data.train,
        val=data.val,
        test=data.test,
        split=tuple(data.split),
        seed=data.seed,
        batch_size=data.batch_size,
        val_batch_size=data.val_batch_size,
        num_workers=data.num_workers,
        dtype=DTYPES[config.model_dtype.value],
        min_distance=data.min_distance,
        nonfinite_labels=data.nonfinite_labels.value,
    )


def _resumed_spec(path: str, config: TrainConfig) -> ModelSpec:
    ckpt = read_checkpoint(path)
    spec = checkpoint_spec(ckpt, path)
    max_epochs = config.trainer.max_epochs
    # the same condition on which Lightning refuses the resume, with a traceback
    if max_epochs is not None and max_epochs != -1 and ckpt["epoch"] > max_epochs:
        raise ConfigError(
            f"{path} has already trained {ckpt['epoch'] + 1} epochs, more than trainer.max_epochs={max_epochs}; "
            "raise trainer.max_epochs to continue this run, or use a new run_dir"
        )
    if (spec.type_names, spec.r_max, spec.dtype) != (tuple(config.type_names), float(config.r_max), config.model_dtype.value):
        raise ConfigError(
            f"{path} was trained with type_names {list(spec.type_names)}, r_max {spec.r_max} and model_dtype "
            f"{spec.dtype}, which differ from the config; use another run_dir, or resume=false overwrite=true to start over"
        )
    return spec


def train(config: TrainConfig) -> Dict[str, float]:
    """Fits (or resumes), then tests the best checkpoint when test data exist; returns final metrics.

    The global rank 0 process holds ``run_dir``'s lock (nequip.train.run_lock) throughout; the other
    ranks (started by Lightning, SLURM or torchrun, all with a rank other than 0) never take it.
    """
    L.seed_everything(config.seed, workers=True, verbose=False)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    # the Trainer reads this process's rank from the launcher (SLURM, torchrun, its own DDP spawn)
    trainer = build_trainer(config)
    if not trainer.is_global_zero:
        return _train(config, trainer)
    with RunLock(config.run_dir):
        return _train(config, trainer)


def _train(config: TrainConfig, trainer: L.Trainer) -> Dict[str, float]:
    run_dir = config.run_dir
    last = last_checkpoint(run_dir)
    resume = config.resume and os.path.exists(last)
    if resume:
        check_resume(run_dir, config)
    else:
        old = existing_checkpoints(checkpoint_dir(run_dir))
        check_fresh_start(run_dir, old, config.overwrite, config.resume)
        if old and trainer.is_global_zero:
            for path in old:
                os.unlink(path)
            _log.info(f"overwrite=true: deleted the earlier checkpoints {', '.join(old)}")
    datamodule = build_datamodule(config)
    if resume:
        spec = _resumed_spec(last, config)
        _log.info(f"resuming from {last}")
    else:
        statistics = shared_statistics(
            datamodule.training_statistics, run_dir, data_fingerprint(config), trainer.global_rank
        )
        spec = resolve_model_spec(
            dataclasses.asdict(config.model), list(config.type_names), config.r_max, config.model_dtype.value, statistics
        )
        if config.initialize_from:
            spec = fine_tuning_spec(spec, config.initialize_from)
    module = NequIPLightningModule(spec, train_config_of(config))
    if trainer.is_global_zero:
        os.makedirs(run_dir, exist_ok=True)
        atomic_write_text(os.path.join(run_dir, "config.yaml"), yaml.safe_dump(config_to_dict(config), sort_keys=False))
    # weights_only: a checkpoint is data; never unpickle code from it
    trainer.fit(module, datamodule=datamodule, ckpt_path=last if resume else None, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if config.data.test is not None or config.data.split[2] > 0:
        best = best_checkpoint(run_dir)
        (results,) = trainer.test(
            module, datamodule=datamodule, ckpt_path=best if os.path.exists(best) else None, verbose=False, weights_only=True
        )
        metrics.update(results)
    return metrics


def _summary(config: TrainConfig, metrics: Dict[str, float]) -> str:
    """The one screen a user reads at the end: where things are and how good the model is."""
    run_dir = os.path.abspath(config.run_dir)
    best = best_checkpoint(run_dir)
    lines = ["", "=" * 60, f"run directory:   {run_dir}"]
    if os.path.exists(best):
        ckpt = read_checkpoint(best)
        score = next((c.get("best_model_score") for k, c in ckpt.get("callbacks", {}).items() if "ModelCheckpoint" in k), None)
        lines.append(f"best checkpoint: {best} (epoch {ckpt['epoch']}" + (f", val/loss {float(score):.5g})" if score is not None else ")"))
    lines += [f"last checkpoint: {last_checkpoint(run_dir)}", f"logs:            {os.path.join(run_dir, 'logs')} (one version_N folder per start or resume)"]
    for stage in ("val", "test"):
        for name, shown in DISPLAY_UNITS.items():
            key = f"{stage}/{name}_mae"
            if key in metrics:
                lines.append(f"{key + ':':<26}{metrics[key] * shown.factor:9.2f} {shown.unit}")
    lines.append("=" * 60)
    return "\n".join(lines)


def _print_defaults(arguments: List[str]) -> int:
    kinds = [a.split("=", 1)[1] for a in arguments if a.startswith("model.kind=")]
    others = [a for a in arguments if not a.startswith("model.kind=")]
    if others:
        raise ConfigError(f"command line: --print-defaults takes only model.kind=KIND, got {' '.join(others)}")
    print(default_config_text(kinds[-1] if kinds else "nequip"), end="")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = cli_parser("nequip-train", __doc__)
    parser.add_argument("config", nargs="?", help="YAML config file (see configs/; every key: --print-defaults)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_epochs=10")
    parser.add_argument(
        "--print-defaults", action="store_true",
        help="print the complete default config (each key's type, default and meaning) and exit; add model.kind=allegro for Allegro's",
    )
    args = parser.parse_args(argv)
    if args.print_defaults:
        return run_cli("nequip-train", lambda: _print_defaults([a for a in [args.config, *args.overrides] if a]), args)
    if args.config is None:
        parser.error("the config file is required (or --print-defaults)")

    def run() -> int:
        config = load_config(args.config, args.overrides)
        try:
            with warnings.catch_warnings():  # for this run only, not for the process that called main()
                # emitted by Lightning's own internals on every step with torch >= 2.10; nothing a user can act on
                warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
                metrics = train(config)
        except SIGTERMException:
            _log.warning(f"nequip-train: interrupted; state saved in {last_checkpoint(config.run_dir)}; rerun to resume")
            return EXIT_INTERRUPTED
        except OSError as err:
            if err.errno not in _WRITE_ERRNOS:
                raise
            raise _write_error(err, config.run_dir) from err
        if rank_zero_only.rank == 0:
            print(_summary(config, metrics))
        return 0

    return run_cli("nequip-train", run, args, log_stream="stdout")


if __name__ == "__main__":
    sys.exit(main())
