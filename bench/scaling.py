"""Training throughput (frames/s) of a tutorial model with 1 and 2 DDP processes, eager and
compiled (``compile_mode``), side by side.

    python bench/scaling.py [--config configs/tutorial.yaml | --system molecule] [--steps 80] [--batch-size 4]
                            [--max-procs 2] [--compile-modes eager compile] [--accelerator cpu]

``--system molecule`` trains the 21-atom molecule of bench/molecule.py (NequIP, 3 layers, l_max 1, 32
features, float32): the small-system case where fixed per-step costs show; bench/train_step.py
splits its step into phases.

Each process trains on ``--batch-size`` frames per step (the global batch grows with the number of
processes); the first 10 steps are warm-up (and compilation). On a GPU machine use --accelerator gpu:
one GPU gives the per-GPU throughput, and the DDP overhead is the drop of frames/s per process from 1 to N.
The last column, the time of the first steps, holds the compilation (from Inductor's cache when it
has the graph: point TORCHINDUCTOR_CACHE_DIR at an empty folder for a cold start).
"""

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARMUP = 10


def worker(args) -> None:
    import lightning as L
    import torch

    from nequip.config import load_config
    from nequip.model import resolve_model_spec
    from nequip.scripts.train import build_datamodule
    from nequip.train.lightning_module import NequIPLightningModule, train_config_of
    from nequip.train.trainer import build_trainer

    class Throughput(L.Callback):
        def on_train_start(self, trainer, *unused):
            self.begin = time.perf_counter()

        def on_train_batch_end(self, trainer, *unused):
            if trainer.global_step == WARMUP:
                self.start = time.perf_counter()
            elif trainer.global_step == args.steps and trainer.is_global_zero:
                frames = (args.steps - WARMUP) * args.batch_size * trainer.world_size
                rate = frames / (time.perf_counter() - self.start)
                print(f"RESULT {trainer.world_size} {rate:.2f} {self.start - self.begin:.1f}", flush=True)

    overrides = [
        f"run_dir={args.run_dir}", f"trainer.max_steps={args.steps}", "trainer.max_time=null", "trainer.max_epochs=-1",
        f"trainer.devices={args.procs}", f"trainer.accelerator={args.accelerator}", "trainer.limit_val_batches=0",
        f"data.batch_size={args.batch_size}", "trainer.enable_progress_bar=false", "logging.loggers=[]",
        f"trainer.strategy={'ddp' if args.procs > 1 else 'auto'}", "scheduler.name=none", f"compile_mode={args.mode}",
    ]
    config = load_config(args.config, overrides)
    L.seed_everything(0, verbose=False)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    datamodule = build_datamodule(config)
    spec = resolve_model_spec(dataclasses.asdict(config.model), list(config.type_names), config.r_max,
                              config.model_dtype.value, datamodule.training_statistics())
    module = NequIPLightningModule(spec, train_config_of(config))
    trainer = build_trainer(config)
    trainer.callbacks.append(Throughput())
    trainer.fit(module, datamodule=datamodule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "tutorial.yaml"))
    parser.add_argument("--system", choices=["molecule"], help="a generated benchmark system instead of --config")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-procs", type=int, default=2)
    parser.add_argument("--compile-modes", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--procs", type=int, help=argparse.SUPPRESS)  # set for the worker processes
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.procs is not None:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        if args.system == "molecule":
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from molecule import write_dataset

            args.config = write_dataset(folder)
        run_all(args)


def run_all(args) -> None:
    results = {}
    for mode in args.compile_modes:
        for procs in range(1, args.max_procs + 1):
            with tempfile.TemporaryDirectory() as run_dir:
                cmd = [sys.executable, os.path.abspath(__file__), "--config", args.config, "--steps", str(args.steps),
                       "--batch-size", str(args.batch_size), "--accelerator", args.accelerator,
                       "--procs", str(procs), "--run-dir", run_dir, "--mode", mode]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                world, rate, warmup = next(line.split()[1:] for line in out.splitlines() if line.startswith("RESULT"))
                results[mode, int(world)] = float(rate), float(warmup)
    base = results[args.compile_modes[0], 1][0]
    print(f"config: {args.system or os.path.relpath(args.config, REPO)}, {args.batch_size} frames per process and step")
    print(f"{'mode':>8} {'processes':>10} {'frames/s':>10} {'per process':>12} {'ms/step':>8} "
          f"{'vs ' + args.compile_modes[0] + ' x1':>10} {'first ' + str(WARMUP) + ' steps s':>16}")
    for (mode, procs), (rate, warmup) in results.items():
        step_ms = 1e3 * args.batch_size * procs / rate
        print(f"{mode:>8} {procs:>10} {rate:>10.1f} {rate / procs:>12.1f} {step_ms:>8.1f} {rate / base:>10.2f} {warmup:>16.1f}")

if __name__ == "__main__":
    main()
