"""The training config: one YAML file, read top to bottom, validated against these dataclasses.

Every key has a default that works except ``type_names``, ``r_max`` and ``data.train``. The
``model:`` section is checked against the dataclass of its ``kind`` (see nequip.model.registry).
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class DataConfig:
    # A source is a file (ASE-readable: extxyz, ...; or our HDF5 .h5) or a list of files, each a path
    # or {path: ..., weight: w} (w multiplies the loss weight of that file's frames).
    train: Any = "???"
    val: Any = None  # if null, split off the train data by `split`
    test: Any = None
    # (train, val, test) fractions of the train file; a part given as its own file is not split off
    split: List[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 0  # of the split permutation
    batch_size: int = 5  # frames per step and process (global batch = batch_size x processes)
    val_batch_size: int = 10
    num_workers: int = 0
    # Å: a frame with two atoms (or periodic images) closer than this is a data error naming them
    # (duplicated atoms give a NaN model); 0 turns the check off
    min_distance: float = 0.1
    # NaN or inf in a label of the file: error (a data error naming file, frame and key) | missing
    # (left out of the loss like a label the frame does not have)
    nonfinite_labels: str = "error"


@dataclass
class LossConfig:
    energy: float = 1.0  # coefficient of the per-atom energy term
    forces: float = 1.0
    stress: float = 0.0
    function: str = "mse"  # mse | huber
    huber_delta: float = 0.01


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | adamw
    lr: float = 0.005
    weight_decay: float = 0.0
    amsgrad: bool = False


@dataclass
class SchedulerConfig:
    name: str = "plateau"  # plateau (on val/loss) | cosine | none
    factor: float = 0.5
    patience: int = 10
    min_lr: float = 1.0e-6


@dataclass
class TrainerConfig:
    """Forwarded to ``lightning.Trainer``."""

    max_epochs: int = 100
    max_steps: int = -1
    max_time: Optional[str] = None  # "DD:HH:MM:SS"
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    gradient_clip_val: Optional[float] = None
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    limit_train_batches: Any = 1.0  # fraction (float) or number (int) of batches per epoch
    limit_val_batches: Any = 1.0
    enable_progress_bar: bool = True  # on a terminal; logs and pipes get plain lines instead


@dataclass
class LoggingConfig:
    loggers: List[str] = field(default_factory=lambda: ["csv"])  # csv | tensorboard | wandb
    wandb_project: str = "nequip"
    wandb_mode: str = "offline"  # offline unless you set online and are logged in


@dataclass
class TrainConfig:
    run_dir: str = "results/run"  # checkpoints, logs and the resolved config go here
    seed: int = 0
    # continue from run_dir/checkpoints/last.ckpt when it exists; refused if the model or the data
    # statistics settings changed (see nequip/train/resume_check.py for the keys)
    resume: bool = True
    # with resume=false, delete the checkpoints an earlier run left in run_dir (refused without it)
    overwrite: bool = False
    type_names: List[str] = field(default_factory=lambda: ["???"])  # chemical symbols; order = type index
    r_max: float = -1.0  # cutoff radius, Å
    model_dtype: str = "float64"  # float64 | float32
    num_threads: Optional[int] = None  # torch CPU threads per process; null = torch's default
    # eager | compile: torch.compile of the model, forces and stress included (see README, "Compiled training")
    compile_mode: str = "eager"
    ema_decay: float = 0.99  # 0 disables EMA; warms up as min(ema_decay, (1 + n) / (10 + n)) over the first n steps
    # .nequip.zip or .ckpt to start from (fine-tuning): same model hyperparameters; type_names may add,
    # drop or reorder species (known ones start exactly as in the source model)
    initialize_from: Optional[str] = None
    model: Dict[str, Any] = field(default_factory=lambda: {"kind": "nequip"})
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
