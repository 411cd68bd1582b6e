"""The training config: one YAML file, read top to bottom, validated against these dataclasses.

Every key has a default that works except ``type_names``, ``r_max`` and ``data.train``. The
``model:`` section is typed by its ``kind`` (the kind's hyperparameter dataclass, see
nequip.model.registry). Each field's ``help`` is what ``nequip-train --print-defaults`` shows, so
this file is the user's reference: value checks that span keys live in :mod:`.checks`.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, List, Optional

from ..utils.setting import setting

REQUIRED = "???"  # omegaconf's marker of a value the user must give


class ModelDType(str, Enum):
    float64 = "float64"
    float32 = "float32"


class CompileMode(str, Enum):
    eager = "eager"
    compile = "compile"


class LossFunction(str, Enum):
    mse = "mse"
    huber = "huber"


class OptimizerName(str, Enum):
    adam = "adam"
    adamw = "adamw"


class SchedulerName(str, Enum):
    plateau = "plateau"
    cosine = "cosine"
    none = "none"


class WandbMode(str, Enum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


class NonFiniteLabels(str, Enum):
    error = "error"
    missing = "missing"


@dataclass
class DataConfig:
    train: Any = setting(REQUIRED, "training data: a file (extxyz or any ASE format, or our .h5), or a list of files, each a path or {path: FILE, weight: W} (W multiplies that file's loss weight)")
    val: Any = setting(None, "validation data, like train; null: split off the train data by data.split")
    test: Any = setting(None, "test data, like train; null: split off the train data by data.split")
    split: List[float] = setting([0.8, 0.1, 0.1], "(train, val, test) fractions of the train data; a part given as its own file is not split off")
    seed: int = setting(0, "seed of the split permutation")
    batch_size: int = setting(5, "frames per step and process (global batch = batch_size x processes)")
    val_batch_size: int = setting(10, "frames per validation step and process")
    num_workers: int = setting(0, "DataLoader worker processes")
    min_distance: float = setting(0.1, "Å: two atoms (or periodic images) closer than this are a data error naming them; 0 turns the check off")
    nonfinite_labels: NonFiniteLabels = setting(NonFiniteLabels.error, "NaN or inf in a label of the file: a data error naming file, frame and key, or left out of the loss as missing")


@dataclass
class LossConfig:
    energy: float = setting(1.0, "coefficient of the per-atom energy term (>= 0)")
    forces: float = setting(1.0, "coefficient of the force term (>= 0)")
    stress: float = setting(0.0, "coefficient of the stress term (>= 0)")
    function: LossFunction = setting(LossFunction.mse, "the pointwise error")
    huber_delta: float = setting(0.01, "where huber turns from quadratic to linear (data units)")


@dataclass
class OptimizerConfig:
    name: OptimizerName = setting(OptimizerName.adam, "the optimizer (torch.optim.Adam or AdamW)")
    lr: float = setting(0.005, "learning rate (> 0)")
    weight_decay: float = setting(0.0, "weight decay (>= 0)")
    amsgrad: bool = setting(False, "use the AMSGrad variant")


@dataclass
class SchedulerConfig:
    name: SchedulerName = setting(SchedulerName.plateau, "learning-rate schedule: plateau follows val/loss, cosine anneals over all steps")
    factor: float = setting(0.5, "plateau: multiply the learning rate by this")
    patience: int = setting(10, "plateau: epochs without improvement before lowering it")
    min_lr: float = setting(1.0e-6, "lowest learning rate")


@dataclass
class TrainerConfig:
    """Forwarded to ``lightning.Trainer``."""

    max_epochs: int = setting(100, "stop after this many epochs")
    max_steps: int = setting(-1, "stop after this many optimizer steps (-1: no limit)")
    max_time: Optional[str] = setting(None, "stop after this wall time, DD:HH:MM:SS")
    accelerator: str = setting("auto", "cpu | gpu | auto")
    devices: Any = setting("auto", "number of devices (processes) per node, a list of device ids, or auto")
    num_nodes: int = setting(1, "nodes (multi-node DDP, see configs/slurm)")
    strategy: str = setting("auto", "auto | ddp | any Lightning strategy name")
    gradient_clip_val: Optional[float] = setting(None, "clip gradients to this norm (null: no clipping)")
    log_every_n_steps: int = setting(10, "steps between logged training metrics and progress lines")
    check_val_every_n_epoch: int = setting(1, "epochs between validations")
    limit_train_batches: Any = setting(1.0, "fraction (float) or number (int) of training batches per epoch")
    limit_val_batches: Any = setting(1.0, "fraction (float) or number (int) of validation batches")
    enable_progress_bar: bool = setting(True, "a live bar on a terminal; logs and pipes get plain lines instead")


@dataclass
class LoggingConfig:
    loggers: List[Any] = setting(["csv"], "csv | tensorboard | wandb, or {class: import.path.Logger, ...its arguments}")
    wandb_project: str = setting("nequip", "Weights & Biases project")
    wandb_mode: WandbMode = setting(WandbMode.offline, "online needs wandb login")


@dataclass
class TrainConfig:
    run_dir: str = setting("results/run", "checkpoints, logs and the resolved config go here")
    seed: int = setting(0, "seed of weights, shuffling and the split")
    resume: bool = setting(True, "continue from run_dir/checkpoints/last.ckpt when it exists (refused if the model or data statistics settings changed)")
    overwrite: bool = setting(False, "with resume=false, delete the checkpoints an earlier run left in run_dir")
    type_names: List[str] = setting(REQUIRED, "chemical symbols of the species; their order is the type index")
    r_max: float = setting(REQUIRED, "cutoff radius, Å (> 0)")
    model_dtype: ModelDType = setting(ModelDType.float64, "float type of the model and data")
    num_threads: Optional[int] = setting(None, "torch CPU threads per process (null: torch's default)")
    compile_mode: CompileMode = setting(CompileMode.eager, "compile: torch.compile of the model, forces and stress included")
    ema_decay: float = setting(0.99, "EMA of the weights, in [0, 1); 0 disables it; warms up as min(ema_decay, (1 + n) / (10 + n))")
    initialize_from: Optional[str] = setting(None, ".nequip.zip or .ckpt to start from (fine-tuning): same hyperparameters; type_names may add, drop or reorder species")
    callbacks: List[Any] = setting([], "extra Lightning callbacks, each {class: import.path.Callback, ...its arguments}, e.g. {class: lightning.pytorch.callbacks.EarlyStopping, monitor: val/loss, patience: 20}")
    model: Any = setting({"kind": "nequip"}, "the model: kind (nequip | allegro) and its hyperparameters (see --print-defaults model.kind=KIND)")
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
