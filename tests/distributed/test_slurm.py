"""Under srun, Lightning's SLURM environment gives each process its rank from SLURM's variables;
the sbatch script requeues when nequip-train reports an interrupted run."""

import os
import subprocess

from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from nequip.config import load_config
from nequip.train.trainer import build_trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SLURM_TASK_7_OF_8 = {  # task 7 of 8: node 1 of 2, local rank 3 of 4
    "SLURM_NTASKS": "8", "SLURM_PROCID": "7", "SLURM_LOCALID": "3", "SLURM_NODEID": "1",
    "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NUM_NODES": "2", "SLURM_NNODES": "2",
    "SLURM_JOB_NAME": "nequip", "SLURM_JOB_ID": "4242", "SLURM_NODELIST": "gpu[01-02]",
}


def test_slurm_environment_gives_ranks(tmp_path, emt_xyz, monkeypatch):
    # building the Trainer sets Lightning's process-global rank; keep it from leaking into later tests
    monkeypatch.setattr(rank_zero_only, "rank", rank_zero_only.rank)
    for key, value in SLURM_TASK_7_OF_8.items():
        monkeypatch.setenv(key, value)
    config_file = tmp_path / "c.yaml"
    config_file.write_text(f"type_names: [Cu, Au]\nr_max: 3.6\ndata: {{train: {emt_xyz}}}\n")
    config = load_config(str(config_file), [
        f"run_dir={tmp_path / 'run'}", "trainer.accelerator=cpu", "trainer.devices=4", "trainer.num_nodes=2",
        "trainer.strategy=ddp",
    ])
    trainer = build_trainer(config)
    assert isinstance(trainer.strategy.cluster_environment, SLURMEnvironment)
    assert (trainer.world_size, trainer.global_rank, trainer.local_rank, trainer.node_rank) == (8, 7, 3, 1)
    assert trainer.strategy.cluster_environment.main_address == "gpu01"


def test_sbatch_script_requeues_on_interrupt_exit_code(tmp_path):
    """Run the sbatch script with stand-ins for srun and scontrol: exit code 3 means 'saved, requeue'."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/bash\necho \"srun $*\" >> \"$LOG\"\nexit 3\n")
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho \"scontrol $*\" >> \"$LOG\"\n")
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", LOG=str(log), **SLURM_TASK_7_OF_8)
    result = subprocess.run(["bash", os.path.join(REPO, "configs", "slurm", "train.sbatch"), "my.yaml", "trainer.max_epochs=5"],
                            env=env, capture_output=True, text=True)
    calls = log.read_text().splitlines()
    assert result.returncode == 3
    assert calls[0].startswith("srun --kill-on-bad-exit=1 nequip-train my.yaml trainer.accelerator=gpu trainer.devices=4 trainer.num_nodes=2")
    assert calls[0].endswith("trainer.max_epochs=5")
    assert calls[1] == "scontrol requeue 4242"
