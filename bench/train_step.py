"""Where a training step's time goes: collate, forward, loss, backward, optimizer, EMA, in ms per
step, eager and compiled, outside Lightning (its hooks, metrics and logging are the difference to
bench/scaling.py's full steps/s).

    python bench/train_step.py [--config CONFIG] [--batch-sizes 5 16] [--compile-modes eager compile] [--steps 40]

Without --config it runs the 21-atom molecule of bench/molecule.py (issue 16's small-system case).
Run it with PYTHONPATH pointing at another checkout to compare two versions of the code side by side.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

PHASES = ("collate", "forward", "loss", "backward", "optimizer", "ema")


def measure(config_path: str, batch_size: int, mode: str, steps: int) -> dict:
    import torch

    from nequip.config import load_config
    from nequip.data.batching import collate
    from nequip.model import resolve_model_spec
    from nequip.scripts.train import build_datamodule
    from nequip.train.lightning_module import NequIPLightningModule, train_config_of

    config = load_config(config_path, [f"compile_mode={mode}", f"data.batch_size={batch_size}", "scheduler.name=none"])
    torch.manual_seed(0)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    datamodule = build_datamodule(config)
    datamodule.setup()
    spec = resolve_model_spec(dataclasses.asdict(config.model), list(config.type_names), config.r_max,
                              config.model_dtype.value, datamodule.training_statistics())
    module = NequIPLightningModule(spec, train_config_of(config))
    optimizer = module.configure_optimizers()
    dataset = datamodule.train_dataset
    num_batches = len(dataset) // batch_size

    def frames(k):
        return [dataset[i] for i in range(k * batch_size, (k + 1) * batch_size)]

    totals = dict.fromkeys(PHASES, 0.0)

    def step(k, record):
        t0 = time.perf_counter()
        batch = collate(frames(k % num_batches))
        t1 = time.perf_counter()
        pred = module.model(batch)
        t2 = time.perf_counter()
        loss, _ = module.loss_fn(pred, batch)
        t3 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        if module.ema is not None:
            module.ema.update_parameters(module.model)
        t6 = time.perf_counter()
        if record:
            for phase, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                totals[phase] += seconds

    for k in range(10):  # warm-up (and compilation)
        step(k, False)
    for k in range(steps):
        step(10 + k, True)
    return {phase: 1e3 * seconds / steps for phase, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="a training config (default: the molecule of bench/molecule.py)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[5, 16])
    parser.add_argument("--compile-modes", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = args.config
        if config is None:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from molecule import write_dataset

            config = write_dataset(folder)
        print(f"{'mode':>8} {'batch':>6} " + " ".join(f"{p:>9}" for p in PHASES) + f" {'total ms':>9}")
        for mode in args.compile_modes:
            for batch_size in args.batch_sizes:
                ms = measure(config, batch_size, mode, args.steps)
                print(f"{mode:>8} {batch_size:>6} " + " ".join(f"{ms[p]:>9.2f}" for p in PHASES) + f" {sum(ms.values()):>9.2f}", flush=True)


if __name__ == "__main__":
    main()
