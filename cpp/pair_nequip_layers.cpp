/* ----------------------------------------------------------------------
   Pair style `nequip`, per-layer scheme (metadata lammps_scheme = per_layer).

   The package holds the stages of nequip/export/layers.py:
     model        atom_types [N] -> h_0 [N,F_0]
     layer_k      vec [E,3], atom_types, edge_index [2,E], h_k -> h_{k+1} [N,F_{k+1}], saved...
     layer_k_vjp  vec, atom_types, edge_index, h_k, saved..., grad h_{k+1} -> grad h_k, grad vec
     readout      h_L, atom_types, num_local [1] -> atomic_energy [N], total_energy [1], grad h_L
   N = owned + ghost atoms (ghost shell r_max + skin), E = edges with an owned center closer than
   r_max, vec = x[neighbor] - x[center].

   Forward: after each layer the rows of ghost atoms are replaced by their owners' rows (LAMMPS
   forward communication; a ghost may be an image of an atom of the same rank, several images away:
   the communication pattern handles that). Backward: the gradient on a ghost's features belongs to
   its owner, so it is summed there (reverse communication) and the ghost rows are zeroed before the
   previous layer's vjp. The edge-vector gradients of all layers add up to dE/dvec, from which
   forces (on ghosts too: LAMMPS sums them into owners, newton on) and virials follow.

   SPDX-License-Identifier: GPL-2.0-only (compiled against LAMMPS headers).
------------------------------------------------------------------------- */

#include "pair_nequip.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "neigh_list.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <cstring>
#include <sstream>

using namespace LAMMPS_NS;

/* ---------------------------------------------------------------------- */

void PairNequIP::load_layer_programs(const std::unordered_map<std::string, std::string> &meta)
{
  auto scheme = meta.find("lammps_scheme");
  per_layer = scheme != meta.end() && scheme->second == "per_layer";
  if (scheme != meta.end() && !per_layer && scheme->second != "whole_graph")
    error->all(FLERR, "Pair style {}: model {} has unknown lammps_scheme '{}' (this plugin knows "
                      "per_layer and whole_graph): rebuild the plugin from the same nequip version",
               style_kind, model_path, scheme->second);
  layer_programs.clear();
  vjp_programs.clear();
  readout_program.reset();
  feature_sizes.clear();
  if (!per_layer) {
    if (style_kind == "nequip" && comm->me == 0)
      utils::logmesg(lmp, "pair nequip: whole-graph package (compiled before per-layer export): the "
                          "model runs on a ghost shell of num_layers * r_max; recompile it with "
                          "nequip-compile --target lammps for the faster per-layer scheme\n");
    return;
  }

  // packages whose vjps were traced for the layouts of the eager saved tensors (before the programs
  // took contiguous inputs) give wrong forces when a compiled forward returns another layout
  auto layout = meta.find("program_inputs");
  if (layout == meta.end() || layout->second != "contiguous")
    error->all(FLERR, "Pair style {}: per-layer model {} was compiled by an older nequip-compile whose "
                      "layer vjps can read saved tensors with the wrong strides; recompile it with "
                      "nequip-compile --target lammps",
               style_kind, model_path);

  auto it = meta.find("feature_sizes");
  if (it != meta.end()) {
    std::istringstream in(it->second);
    int64_t size;
    while (in >> size) feature_sizes.push_back(size);
  }
  if (static_cast<int>(feature_sizes.size()) != num_layers + 1)
    error->all(FLERR, "Pair style {}: per-layer model {} needs num_layers + 1 = {} feature_sizes in "
                      "its metadata; recompile it with nequip-compile --target lammps",
               style_kind, model_path, num_layers + 1);

  const c10::DeviceIndex index = device.is_cuda() ? device.index() : -1;
  auto load = [&](const std::string &name) {
    try {
      return std::make_unique<torch::inductor::AOTIModelPackageLoader>(model_path, name, false, 1,
                                                                       index);
    } catch (const std::exception &e) {
      error->all(FLERR, "Pair style {}: cannot load program '{}' of per-layer model {}: {}",
                 style_kind, name, model_path, e.what());
    }
    return std::unique_ptr<torch::inductor::AOTIModelPackageLoader>();
  };
  for (int k = 0; k < num_layers; k++) {
    layer_programs.push_back(load("layer_" + std::to_string(k)));
    vjp_programs.push_back(load("layer_" + std::to_string(k) + "_vjp"));
  }
  readout_program = load("readout");

  int64_t widest = 0;
  for (auto s : feature_sizes) widest = std::max(widest, s);
  comm_forward = comm_reverse = static_cast<int>(widest);
  if (comm->me == 0)
    utils::logmesg(lmp, "pair nequip: per-layer scheme, ghost shell r_max + skin; ghost features "
                        "exchanged after each of {} layers ({} values per atom at most)\n",
                   num_layers, widest);
}

/* ---------------------------------------------------------------------- */

std::vector<torch::Tensor> PairNequIP::run_program(torch::inductor::AOTIModelPackageLoader &program,
                                                   const std::string &name,
                                                   std::vector<torch::Tensor> inputs,
                                                   size_t num_outputs)
{
  // compiled programs assume the strides they were traced with: contiguous (nequip/export/layers.py);
  // the saved tensors a layer program returns may be views of wider buffers
  for (auto &t : inputs) t = t.contiguous();
  std::vector<torch::Tensor> outputs;
  try {
    outputs = program.run(inputs);
  } catch (const std::exception &e) {
    error->one(FLERR, "Pair style {}: running program '{}' of model {} failed: {}", style_kind,
               name, model_path, e.what());
  }
  if (num_outputs && outputs.size() != num_outputs)
    error->one(FLERR, "Pair style {}: program '{}' of model {} returned {} outputs, expected {}",
               style_kind, name, model_path, outputs.size(), num_outputs);
  return outputs;
}

/* ----------------------------------------------------------------------
   ghost rows of features [nall, F] <- their owners' rows
------------------------------------------------------------------------- */

torch::Tensor PairNequIP::exchange_ghosts(const torch::Tensor &features)
{
  comm_features = features.to(torch::kCPU).contiguous();
  comm->forward_comm(this);
  return comm_features.to(device);
}

/* ----------------------------------------------------------------------
   owners' rows of grad [nall, F] += their ghosts' rows; ghost rows zeroed
------------------------------------------------------------------------- */

torch::Tensor PairNequIP::gather_ghost_gradients(const torch::Tensor &grad)
{
  comm_features = grad.to(torch::kCPU).contiguous();
  comm->reverse_comm(this);
  comm_features.narrow(0, atom->nlocal, atom->nghost).zero_();
  return comm_features.to(device);
}

namespace {

template <typename T>
int pack_rows(const torch::Tensor &t, int n, const int *rows, double *buf)
{
  const int64_t width = t.size(1);
  const T *data = t.data_ptr<T>();
  int m = 0;
  for (int i = 0; i < n; i++) {
    const T *row = data + rows[i] * width;
    for (int64_t c = 0; c < width; c++) buf[m++] = static_cast<double>(row[c]);
  }
  return m;
}

template <typename T> void unpack_rows(torch::Tensor &t, int n, int first, const double *buf)
{
  const int64_t width = t.size(1);
  T *data = t.data_ptr<T>() + static_cast<int64_t>(first) * width;
  for (int64_t m = 0; m < n * width; m++) data[m] = static_cast<T>(buf[m]);
}

template <typename T>
int pack_range(const torch::Tensor &t, int n, int first, double *buf)
{
  const int64_t width = t.size(1);
  const T *data = t.data_ptr<T>() + static_cast<int64_t>(first) * width;
  for (int64_t m = 0; m < n * width; m++) buf[m] = static_cast<double>(data[m]);
  return static_cast<int>(n * width);
}

template <typename T> void add_rows(torch::Tensor &t, int n, const int *rows, const double *buf)
{
  const int64_t width = t.size(1);
  T *data = t.data_ptr<T>();
  int64_t m = 0;
  for (int i = 0; i < n; i++) {
    T *row = data + rows[i] * width;
    for (int64_t c = 0; c < width; c++) row[c] += static_cast<T>(buf[m++]);
  }
}

}    // namespace

int PairNequIP::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  if (comm_features.scalar_type() == torch::kFloat64) return pack_rows<double>(comm_features, n, list, buf);
  return pack_rows<float>(comm_features, n, list, buf);
}

void PairNequIP::unpack_forward_comm(int n, int first, double *buf)
{
  if (comm_features.scalar_type() == torch::kFloat64)
    unpack_rows<double>(comm_features, n, first, buf);
  else
    unpack_rows<float>(comm_features, n, first, buf);
}

int PairNequIP::pack_reverse_comm(int n, int first, double *buf)
{
  if (comm_features.scalar_type() == torch::kFloat64) return pack_range<double>(comm_features, n, first, buf);
  return pack_range<float>(comm_features, n, first, buf);
}

void PairNequIP::unpack_reverse_comm(int n, int *list, double *buf)
{
  if (comm_features.scalar_type() == torch::kFloat64)
    add_rows<double>(comm_features, n, list, buf);
  else
    add_rows<float>(comm_features, n, list, buf);
}

/* ---------------------------------------------------------------------- */

void PairNequIP::compute_per_layer(int /*eflag*/, int /*vflag*/)
{
  double **x = atom->x;
  double **f = atom->f;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const auto options = torch::TensorOptions().dtype(dtype).device(device);

  // a rank without any atom still relays ghost features in the exchanges (zero rows)
  if (nall == 0) {
    for (int k = 0; k < num_layers; k++)
      exchange_ghosts(torch::zeros({0, feature_sizes[k + 1]}, options));
    for (int k = num_layers - 1; k > 0; k--)
      gather_ghost_gradients(torch::zeros({0, feature_sizes[k]}, options));
    return;
  }

  // edges of owned centers closer than r_max (the full list holds r_max + skin)
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  const double cutsq_model = r_max * r_max;
  std::vector<int64_t> centers, neighbors;
  std::vector<double> vectors;
  centers.reserve(static_cast<size_t>(inum) * 64);
  neighbors.reserve(static_cast<size_t>(inum) * 64);
  vectors.reserve(static_cast<size_t>(inum) * 192);
  for (int ii = 0; ii < inum; ii++) {
    const int i = ilist[ii];
    const int *jlist = firstneigh[i];
    for (int jj = 0; jj < numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - x[i][0];
      const double dy = x[j][1] - x[i][1];
      const double dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz < cutsq_model) {
        centers.push_back(i);
        neighbors.push_back(j);
        vectors.insert(vectors.end(), {dx, dy, dz});
      }
    }
  }
  const int64_t nedges = static_cast<int64_t>(centers.size());
  check_min_distance(centers, neighbors);

  auto types = torch::empty({nall}, torch::kInt64);
  {
    auto t = types.accessor<int64_t, 1>();
    for (int i = 0; i < nall; i++) t[i] = type_mapper[type[i]];
  }
  auto edge_index = torch::empty({2, nedges}, torch::kInt64);
  auto vec = torch::empty({nedges, 3}, torch::kFloat64);
  if (nedges > 0) {
    std::memcpy(edge_index[0].data_ptr<int64_t>(), centers.data(), nedges * sizeof(int64_t));
    std::memcpy(edge_index[1].data_ptr<int64_t>(), neighbors.data(), nedges * sizeof(int64_t));
    std::memcpy(vec.data_ptr<double>(), vectors.data(), nedges * 3 * sizeof(double));
  }
  types = types.to(device);
  edge_index = edge_index.to(device);
  const auto vec_model = vec.to(device, dtype);
  const auto num_local = torch::full({1}, static_cast<int64_t>(nlocal), torch::kInt64).to(device);

  // forward: h_0 on all atoms (it depends on the type only), then layer by layer
  std::vector<torch::Tensor> h = {run_program(*model, "model", {types}, 1)[0]};
  std::vector<std::vector<torch::Tensor>> saved(num_layers);
  for (int k = 0; k < num_layers; k++) {
    const std::string name = "layer_" + std::to_string(k);
    auto out = run_program(*layer_programs[k], name, {vec_model, types, edge_index, h[k]}, 0);
    if (out.empty() || out[0].size(1) != feature_sizes[k + 1])
      error->one(FLERR, "Pair style {}: program '{}' of model {} returned features of the wrong "
                        "size (metadata feature_sizes says {})",
                 style_kind, name, model_path, feature_sizes[k + 1]);
    h.push_back(exchange_ghosts(out[0]));
    saved[k].assign(out.begin() + 1, out.end());
  }
  auto ro = run_program(*readout_program, "readout", {h[num_layers], types, num_local}, 3);

  // backward: dE/dvec summed over the layers
  torch::Tensor grad = ro[2];
  torch::Tensor grad_vec = torch::zeros({nedges, 3}, torch::kFloat64);
  for (int k = num_layers - 1; k >= 0; k--) {
    std::vector<torch::Tensor> inputs = {vec_model, types, edge_index, h[k]};
    inputs.insert(inputs.end(), saved[k].begin(), saved[k].end());
    inputs.push_back(grad);
    auto out = run_program(*vjp_programs[k], "layer_" + std::to_string(k) + "_vjp", inputs, 2);
    saved[k].clear();
    grad_vec += out[1].to(torch::kCPU, torch::kFloat64);
    if (k > 0) grad = gather_ghost_gradients(out[0]);
  }

  auto to_host = [](const torch::Tensor &t) {
    return t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  };
  if (eflag_global) eng_vdwl += to_host(ro[1]).data_ptr<double>()[0];
  if (eflag_atom) {
    const auto ea = to_host(ro[0]);
    const double *e = ea.data_ptr<double>();
    for (int i = 0; i < nlocal; i++) eatom[i] += e[i];
  }

  // r = x[neighbor] - x[center]: F[center] += dE/dr, F[neighbor] -= dE/dr; W_edge = -r (x) dE/dr
  grad_vec = grad_vec.contiguous();
  const double *g = grad_vec.data_ptr<double>();
  const double *r = vectors.data();
  for (int64_t e = 0; e < nedges; e++) {
    const int64_t i = centers[e], j = neighbors[e];
    const double *ge = g + 3 * e;
    const double *re = r + 3 * e;
    for (int a = 0; a < 3; a++) {
      f[i][a] += ge[a];
      f[j][a] -= ge[a];
    }
    if (vflag_either) {
      const double w[6] = {-re[0] * ge[0], -re[1] * ge[1], -re[2] * ge[2],
                           -re[0] * ge[1], -re[0] * ge[2], -re[1] * ge[2]};
      if (vflag_global)
        for (int c = 0; c < 6; c++) virial[c] += w[c];
      if (vflag_atom)
        for (int c = 0; c < 6; c++) {
          vatom[i][c] += 0.5 * w[c];
          vatom[j][c] += 0.5 * w[c];
        }
    }
  }
}
