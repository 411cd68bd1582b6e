# CUDA training image: PyTorch (CUDA build, kept as is) + this project, installed by ./install.sh,
# the same script a user runs. Build from the repository root:
#   docker build -f docker/train.Dockerfile -t nequip-train .
# Pick another PyTorch CUDA image with --build-arg PYTORCH_IMAGE=pytorch/pytorch:<tag>-devel
# (a -devel image: the operator library's CUDA kernels are compiled with its nvcc).
ARG PYTORCH_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-devel
FROM ${PYTORCH_IMAGE}

# GPU architectures the CUDA kernels are built for: A100 (8.0), A10/RTX 30 (8.6), L40/RTX 40 (8.9),
# H100/H200 (9.0).
ENV TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0" \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    XDG_CACHE_HOME=/opt/nequip-cache

WORKDIR /opt/nequip
COPY . /opt/nequip
# install.sh keeps the image's CUDA torch, installs the project (editable) with its dependencies and
# builds the tensor-product operators (CPU + CUDA kernels) into $XDG_CACHE_HOME/nequip/ops
RUN ./install.sh

WORKDIR /work
CMD ["nequip-train", "--help"]
