"""Training throughput (frames/s) of the tutorial model with 1 and 2 DDP processes, side by side.

    python bench/scaling.py [--steps 80] [--batch-size 4] [--max-procs 2] [--accelerator cpu]

Each process trains on ``--batch-size`` frames per step (the global batch grows with the number of
processes); the first 10 steps are warm-up. On a GPU machine use --accelerator gpu: one GPU gives
the per-GPU throughput, and the DDP overhead is the drop of frames/s per process from 1 to N.
"""

import argparse
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
    from nequip.train.lightning_module import NequIPLightningModule
    from nequip.train.trainer import build_trainer

    class Throughput(L.Callback):
        def on_train_batch_end(self, trainer, *unused):
            if trainer.global_step == WARMUP:
                self.start = time.perf_counter()
            elif trainer.global_step == args.steps and trainer.is_global_zero:
                frames = (args.steps - WARMUP) * args.batch_size * trainer.world_size
                print(f"RESULT {trainer.world_size} {frames / (time.perf_counter() - self.start):.2f}", flush=True)

    overrides = [
        f"run_dir={args.run_dir}", f"trainer.max_steps={args.steps}", "trainer.max_time=null", "trainer.max_epochs=-1",
        f"trainer.devices={args.procs}", f"trainer.accelerator={args.accelerator}", "trainer.limit_val_batches=0",
        f"data.batch_size={args.batch_size}", "trainer.enable_progress_bar=false", "logging.loggers=[]",
        f"trainer.strategy={'ddp' if args.procs > 1 else 'auto'}", "scheduler.name=none",
    ]
    config = load_config(os.path.join(REPO, "configs", "tutorial.yaml"), overrides)
    L.seed_everything(0, verbose=False)
    torch.set_num_threads(config["num_threads"])
    datamodule = build_datamodule(config)
    spec = resolve_model_spec(config["model"], config["type_names"], config["r_max"], config["model_dtype"],
                              datamodule.training_statistics())
    module = NequIPLightningModule(spec, {k: config[k] for k in ("loss", "optimizer", "scheduler", "ema_decay", "initialize_from")})
    trainer = build_trainer(config)
    trainer.callbacks.append(Throughput())
    trainer.fit(module, datamodule=datamodule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-procs", type=int, default=2)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--procs", type=int, help=argparse.SUPPRESS)  # set for the worker processes
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.procs is not None:
        worker(args)
        return
    results = {}
    for procs in range(1, args.max_procs + 1):
        with tempfile.TemporaryDirectory() as run_dir:
            cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--procs", str(procs), "--run-dir", run_dir]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            world, rate = next(line.split()[1:] for line in out.splitlines() if line.startswith("RESULT"))
            results[int(world)] = float(rate)
    print(f"{'processes':>10} {'frames/s':>10} {'per process':>12} {'speed-up':>9}")
    for procs, rate in results.items():
        print(f"{procs:>10} {rate:>10.1f} {rate / procs:>12.1f} {rate / results[1]:>9.2f}")


if __name__ == "__main__":
    main()
