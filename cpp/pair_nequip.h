/* -*- c++ -*- ----------------------------------------------------------
   Pair styles `nequip` and `allegro`: run an AOT Inductor `.pt2` package exported by
   `nequip-compile --target lammps` (see DESIGN.md, "The .pt2 package").

   SPDX-License-Identifier: GPL-2.0-only (compiled against LAMMPS headers).
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_NEQUIP_H
#define LMP_PAIR_NEQUIP_H

#include "pair.h"

#include <torch/torch.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace LAMMPS_NS {

class PairNequIP : public Pair {
 public:
  PairNequIP(class LAMMPS *);
  ~PairNequIP() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

  // per-layer scheme: ghost node features forward, their gradients back (pair_nequip_layers.cpp)
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

 protected:
  // "nequip" (message passing: ghost shell num_layers * r_max, edges among ghosts too) or
  // "allegro" (strictly local: ghost shell r_max, edges of owned centers only).
  std::string style_kind;

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> model;
  std::string model_path;
  std::string model_kind;
  std::vector<std::string> type_names;    // model type index -> name
  std::vector<int> type_mapper;           // LAMMPS type (1-based) -> model type index
  double r_max;
  int num_layers;
  torch::Dtype dtype;
  torch::Device device;

  void allocate();
  void select_device();
  void load_ops_library(const std::string &path);
  void load_model(const std::string &path);
  void check_digest(const std::unordered_map<std::string, std::string> &meta);
  void check_min_distance(const std::vector<int64_t> &centers,
                          const std::vector<int64_t> &neighbors);
  void compute_model(int eflag, int vflag);

  // lammps_scheme = per_layer (pair_nequip_layers.cpp): the model runs on owned atoms with a ghost
  // shell of r_max; LAMMPS fills ghost features between layers and sums their gradients back.
  // Packages without the key (whole_graph) run compute_model on a num_layers * r_max shell.
  bool per_layer;
  std::vector<int64_t> feature_sizes;    // F_0 .. F_L
  std::vector<std::unique_ptr<torch::inductor::AOTIModelPackageLoader>> layer_programs, vjp_programs;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> readout_program;
  torch::Tensor comm_features;    // [nall, F] on the host: what (un)pack_*_comm read and write

  void load_layer_programs(const std::unordered_map<std::string, std::string> &meta);
  void compute_per_layer(int eflag, int vflag);
  torch::Tensor exchange_ghosts(const torch::Tensor &features);
  torch::Tensor gather_ghost_gradients(const torch::Tensor &grad);
  std::vector<torch::Tensor> run_program(torch::inductor::AOTIModelPackageLoader &program,
                                         const std::string &name, std::vector<torch::Tensor> inputs,
                                         size_t num_outputs);
};

class PairAllegro : public PairNequIP {
 public:
  PairAllegro(class LAMMPS *);
};

}    // namespace LAMMPS_NS

#endif
