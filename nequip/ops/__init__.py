"""Tensor-product operators of the models: a pure-PyTorch reference path and the compiled
operator library of extensions/ (selected per model by ``tp_backend``)."""

from .modules import ChannelwiseTP, ConvolutionTP, ops_available

__all__ = ["ConvolutionTP", "ChannelwiseTP", "ops_available"]
