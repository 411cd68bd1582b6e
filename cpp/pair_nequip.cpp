/* ----------------------------------------------------------------------
   Pair styles `nequip` and `allegro`.

   The model is an AOT Inductor package (`.pt2`, written by `nequip-compile --target lammps`)
   run through torch::inductor::AOTIModelPackageLoader. Its contract:
     metadata  model_kind, r_max, type_names, num_layers, target (= "lammps"), dtype, device, ...
     inputs    pos [N,3] (model dtype; owned atoms first, then ghosts), atom_types [N] int64,
               edge_index [2,E] int64 (center, neighbor; all ordered pairs closer than r_max),
               num_local [1] int64
     outputs   atomic_energy [N] (zero on ghosts), total_energy [1] (owned atoms),
               forces [N,3] (on all atoms, ghosts included), virial [1,3,3] (W = sum r (x) F),
               atom_virial [N,3,3]
   Forces on ghosts are reverse-communicated by LAMMPS (newton on); per-atom virials of ghosts by
   compute stress/atom. Energy counts only owned atoms, so the sum over ranks is the total energy.

   `nequip` (message passing over num_layers layers) needs a ghost shell of num_layers * r_max and
   edges among ghost atoms too; `allegro` (strictly local) needs r_max and edges of owned centers.

   SPDX-License-Identifier: GPL-2.0-only (compiled against LAMMPS headers).
------------------------------------------------------------------------- */

#include "pair_nequip.h"
#include "sha256.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>

#include <dlfcn.h>
#include <mpi.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace LAMMPS_NS;

namespace {

std::string join(const std::vector<std::string> &names)
{
  std::string out;
  for (const auto &n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::vector<std::string> split(const std::string &s)
{
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

// glibc gives blocks above 32 MB back to the OS when they are freed, so the model's edge-sized
// tensors would be faulted in and zeroed again at every step: on large systems that doubled the
// cost per atom. Keep freed memory for reuse instead (as nequip/utils/memory.py does in Python);
// NEQUIP_MALLOC_TUNING=0 leaves malloc alone.
void keep_freed_memory()
{
#ifdef __GLIBC__
  const char *env = std::getenv("NEQUIP_MALLOC_TUNING");
  if (env && std::strcmp(env, "0") == 0) return;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

// the metadata fields a model's digest covers: same names, same order as DIGEST_FIELDS in
// nequip/export/digest.py, each "key=value\n" (a missing field is an empty value)
const char *const DIGEST_FIELDS[] = {"model_kind", "r_max",  "type_names",        "num_layers",
                                     "target",     "dtype",  "device",            "framework_version",
                                     "input_keys", "output_keys", "ops_library",
                                     "lammps_scheme", "feature_sizes", "program_inputs"};

std::string metadata_digest(const std::unordered_map<std::string, std::string> &meta)
{
  std::string canonical;
  for (const char *key : DIGEST_FIELDS) {
    auto it = meta.find(key);
    canonical += std::string(key) + "=" + (it == meta.end() ? "" : it->second) + "\n";
  }
  return "sha256:" + nequip::sha256_hex(canonical);
}

// atoms closer than this (Angstrom) are on top of each other: the model would return NaN or
// meaningless energies, so the run stops instead
constexpr double MIN_DISTANCE = 0.1;

}    // namespace

/* ---------------------------------------------------------------------- */

PairNequIP::PairNequIP(LAMMPS *lmp) :
    Pair(lmp), style_kind("nequip"), r_max(0.0), num_layers(1), dtype(torch::kFloat64),
    device(torch::kCPU), per_layer(false)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;    // the model returns the virial itself
  centroidstressflag = CENTROID_NOTAVAIL;
  ghostneigh = 1;    // message passing: neighbors of ghost atoms are needed too
  keep_freed_memory();
}

PairAllegro::PairAllegro(LAMMPS *lmp) : PairNequIP(lmp)
{
  style_kind = "allegro";
  ghostneigh = 0;
}

PairNequIP::~PairNequIP()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

/* ---------------------------------------------------------------------- */

void PairNequIP::allocate()
{
  allocated = 1;
  int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

/* ---------------------------------------------------------------------- */

void PairNequIP::settings(int narg, char **)
{
  if (narg != 0)
    error->all(FLERR, "Illegal pair_style {} command: it takes no arguments (usage: "
                      "pair_style {} then pair_coeff * * model.nequip.pt2 <type names>)",
               style_kind, style_kind);
}

/* ----------------------------------------------------------------------
   pair_coeff * * model.pt2 Name1 Name2 ...   (one model type name per LAMMPS atom type)
------------------------------------------------------------------------- */

void PairNequIP::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;

  if (narg < 3 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "Illegal pair_coeff command for pair style {}: usage is "
                      "pair_coeff * * model.pt2 <one model type name per LAMMPS atom type>",
               style_kind);

  load_model(arg[2]);

  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff for pair style {} needs one model type name per LAMMPS atom "
                      "type: got {} names for {} atom types; the model's type names are: {}",
               style_kind, narg - 3, ntypes, join(type_names));

  type_mapper.assign(ntypes + 1, -1);
  for (int i = 1; i <= ntypes; i++) {
    const std::string name = arg[2 + i];
    if (name == "NULL")
      error->all(FLERR, "pair_coeff for pair style {}: NULL is not allowed (atom type {} must be "
                        "one of the model's type names: {})",
                 style_kind, i, join(type_names));
    auto it = std::find(type_names.begin(), type_names.end(), name);
    if (it == type_names.end())
      error->all(FLERR, "pair_coeff for pair style {}: type name '{}' (atom type {}) is not in "
                        "the model {}; its type names are: {}",
                 style_kind, name, i, model_path, join(type_names));
    type_mapper[i] = static_cast<int>(it - type_names.begin());
  }

  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

/* ----------------------------------------------------------------------
   on GPUs: one device per rank, chosen by the rank's index on its node
------------------------------------------------------------------------- */

/* ----------------------------------------------------------------------
   a model compiled with tp_backend: extension calls our tensor-product operators
   (extensions/, namespace nequip_ops): their library must be loaded before the package.
   NEQUIP_OPS_LIBRARY overrides the library found when the plugin was built.
------------------------------------------------------------------------- */

#ifndef NEQUIP_OPS_LIBRARY
#define NEQUIP_OPS_LIBRARY ""
#endif

void PairNequIP::load_ops_library(const std::string &path)
{
  const char *env = std::getenv("NEQUIP_OPS_LIBRARY");
  const std::string library = (env && *env) ? env : NEQUIP_OPS_LIBRARY;
  if (library.empty())
    error->all(FLERR, "Pair style {}: model {} uses nequip's tensor-product operators; set "
                      "NEQUIP_OPS_LIBRARY to the file that `python -m nequip.ops path` prints",
               style_kind, path);
  if (!dlopen(library.c_str(), RTLD_NOW | RTLD_GLOBAL))
    error->all(FLERR, "Pair style {}: model {} uses nequip's tensor-product operators, but their "
                      "library {} cannot be loaded ({}); set NEQUIP_OPS_LIBRARY to the file that "
                      "`python -m nequip.ops path` prints",
               style_kind, path, library, dlerror());
}

void PairNequIP::select_device()
{
  if (!torch::cuda::is_available())
    error->all(FLERR, "Model {} was compiled for device 'cuda' but this LAMMPS run has no CUDA "
                      "GPU (or a CPU build of torch); recompile it with nequip-compile --device cpu",
               model_path);
  MPI_Comm node;
  int local_rank = 0;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, comm->me, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_free(&node);
  const int ndevices = static_cast<int>(torch::cuda::device_count());
  device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % ndevices));
}

/* ---------------------------------------------------------------------- */

void PairNequIP::load_model(const std::string &path)
{
  model_path = path;
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe.good())
      error->all(FLERR, "Pair style {}: cannot open model file '{}' (it must be a .pt2 package "
                        "written by nequip-compile --target lammps)",
                 style_kind, path);
  }

  std::unordered_map<std::string, std::string> meta;
  try {
    meta = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model");
  } catch (const std::exception &e) {
    error->all(FLERR, "Pair style {}: '{}' is not a readable AOT Inductor .pt2 package "
                      "(nequip-compile --target lammps writes one): {}",
               style_kind, path, e.what());
  }

  check_digest(meta);

  auto get = [&](const std::string &key) -> std::string {
    auto it = meta.find(key);
    if (it == meta.end())
      error->all(FLERR, "Pair style {}: model {} has no metadata entry '{}'; it was not "
                        "written by nequip-compile --target lammps",
                 style_kind, path, key);
    return it->second;
  };

  const std::string target = get("target");
  if (target != "lammps")
    error->all(FLERR, "Pair style {}: model {} was compiled for target '{}', not 'lammps'; "
                      "recompile it with nequip-compile --target lammps",
               style_kind, path, target);
  model_kind = get("model_kind");
  if (model_kind != style_kind)
    error->all(FLERR, "Model {} is a '{}' model: use pair_style {} instead of pair_style {}",
               path, model_kind, model_kind, style_kind);
  r_max = std::stod(get("r_max"));
  num_layers = std::stoi(get("num_layers"));
  type_names = split(get("type_names"));
  if (type_names.empty())
    error->all(FLERR, "Pair style {}: model {} has no type_names", style_kind, path);
  if (r_max <= 0.0)
    error->all(FLERR, "Pair style {}: model {} has r_max {} <= 0", style_kind, path, r_max);

  const std::string dt = get("dtype");
  if (dt == "float64")
    dtype = torch::kFloat64;
  else if (dt == "float32")
    dtype = torch::kFloat32;
  else
    error->all(FLERR, "Pair style {}: model {} has unsupported dtype '{}'", style_kind, path, dt);

  auto ops = meta.find("ops_library");
  if (ops != meta.end() && !ops->second.empty()) load_ops_library(path);

  const std::string dev = get("device");
  if (dev == "cpu")
    device = torch::Device(torch::kCPU);
  else if (dev == "cuda")
    select_device();
  else
    error->all(FLERR, "Pair style {}: model {} has unknown device '{}'", style_kind, path, dev);

  try {
    const c10::DeviceIndex index = device.is_cuda() ? device.index() : -1;
    model = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", false, 1,
                                                                       index);
  } catch (const std::exception &e) {
    error->all(FLERR, "Pair style {}: cannot load model {} on device {}: {}", style_kind, path,
               device.str(), e.what());
  }

  load_layer_programs(meta);

  if (comm->me == 0)
    utils::logmesg(lmp,
                   "{} model {}: r_max {}, {} layer(s), types [{}], {}, device {}, "
                   "framework {}\n",
                   model_kind, path, r_max, num_layers, join(type_names), dt, device.str(),
                   meta.count("framework_version") ? meta["framework_version"] : "unknown");
}

/* ----------------------------------------------------------------------
   the metadata must match the digest nequip-compile stored (an edited r_max or type_names
   would give wrong physics); models compiled before digests existed load with a warning
------------------------------------------------------------------------- */

void PairNequIP::check_digest(const std::unordered_map<std::string, std::string> &meta)
{
  auto recorded = meta.find("spec_digest");
  if (recorded == meta.end()) {
    if (comm->me == 0)
      error->warning(FLERR, "Pair style {}: model {} was compiled before .pt2 packages carried a "
                            "digest: its metadata is not checked; recompile it with nequip-compile",
                     style_kind, model_path);
    return;
  }
  if (recorded->second != metadata_digest(meta))
    error->all(FLERR, "Pair style {}: the metadata of model {} does not match the digest it was "
                      "compiled with (edited or damaged file); recompile it with nequip-compile",
               style_kind, model_path);
}

/* ---------------------------------------------------------------------- */

void PairNequIP::init_style()
{
  if (!model) error->all(FLERR, "Pair style {} requires pair_coeff * * model.pt2 ...", style_kind);
  if (force->newton_pair == 0)
    error->all(FLERR, "Pair style {} requires newton pair on (the model returns forces on ghost "
                      "atoms, which LAMMPS sums into their owners): use 'newton on'",
               style_kind);
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Pair style {} requires units metal (eV and Angstrom, the units of the "
                      "model), but the units here are '{}': use 'units metal'",
               style_kind, update->unit_style);

  // whole_graph message passing: each owned atom's energy depends on atoms up to num_layers * r_max
  // away; per_layer needs only r_max (ghost features come from their owners between layers)
  ghostneigh = (style_kind == "nequip" && !per_layer) ? 1 : 0;
  if (ghostneigh) {
    if (comm->mode != Comm::SINGLE)
      error->all(FLERR, "Pair style nequip requires comm_modify mode single");
    const double shell = num_layers * r_max + neighbor->skin;
    if (comm->cutghostuser < shell) {
      if (comm->me == 0)
        utils::logmesg(lmp, "pair nequip: setting the ghost cutoff to num_layers * r_max + skin "
                            "= {} * {} + {} = {}\n",
                       num_layers, r_max, neighbor->skin, shell);
      comm->cutghostuser = shell;
    }
    neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
  } else {
    neighbor->add_request(this, NeighConst::REQ_FULL);
  }

  // respect OMP_NUM_THREADS / package omp: torch's intra-op threads per MPI rank
  if (comm->nthreads >= 1) torch::set_num_threads(comm->nthreads);
}

/* ---------------------------------------------------------------------- */

double PairNequIP::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  cutghost[i][j] = cutghost[j][i] = r_max;
  return r_max;
}

/* ---------------------------------------------------------------------- */

void PairNequIP::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (per_layer) {    // every rank takes part in the ghost exchanges, also without atoms
    compute_per_layer(eflag, vflag);
    return;
  }
  if (list->inum == 0) return;    // energy counts only owned atoms: nothing to add here
  compute_model(eflag, vflag);
}

/* ----------------------------------------------------------------------
   stop (naming the atom IDs) when two atoms of an edge are closer than MIN_DISTANCE: one pass
   over the edges, negligible next to the model
------------------------------------------------------------------------- */

void PairNequIP::check_min_distance(const std::vector<int64_t> &centers,
                                    const std::vector<int64_t> &neighbors)
{
  double **x = atom->x;
  double closest_rsq = MIN_DISTANCE * MIN_DISTANCE;
  size_t closest = centers.size();
  for (size_t e = 0; e < centers.size(); e++) {
    const double *xi = x[centers[e]], *xj = x[neighbors[e]];
    const double dx = xj[0] - xi[0], dy = xj[1] - xi[1], dz = xj[2] - xi[2];
    const double rsq = dx * dx + dy * dy + dz * dz;
    if (rsq < closest_rsq) {
      closest_rsq = rsq;
      closest = e;
    }
  }
  if (closest == centers.size()) return;
  error->one(FLERR, "Pair style {}: atoms {} and {} are {:.4g} Angstrom apart, closer than {} "
                    "Angstrom (atoms on top of each other); fix the structure",
             style_kind, atom->tag[centers[closest]], atom->tag[neighbors[closest]],
             std::sqrt(closest_rsq), MIN_DISTANCE);
}

void PairNequIP::compute_model(int /*eflag*/, int /*vflag*/)
{
  double **x = atom->x;
  double **f = atom->f;
  const int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;

  // edges: owned centers (allegro), or owned and ghost centers (nequip); distance < r_max
  const int ncenter = list->inum + (ghostneigh ? list->gnum : 0);
  const int *ilist = list->ilist;
  const int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;
  const double cutsq_model = r_max * r_max;

  std::vector<int64_t> centers, neighbors;
  centers.reserve(static_cast<size_t>(ncenter) * 64);
  neighbors.reserve(static_cast<size_t>(ncenter) * 64);
  for (int ii = 0; ii < ncenter; ii++) {
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
      }
    }
  }
  const int64_t nedges = static_cast<int64_t>(centers.size());
  check_min_distance(centers, neighbors);

  auto pos = torch::empty({nall, 3}, torch::kFloat64);
  auto types = torch::empty({nall}, torch::kInt64);
  {
    auto p = pos.accessor<double, 2>();
    auto t = types.accessor<int64_t, 1>();
    for (int i = 0; i < nall; i++) {
      p[i][0] = x[i][0];
      p[i][1] = x[i][1];
      p[i][2] = x[i][2];
      t[i] = type_mapper[type[i]];
    }
  }
  auto edge_index = torch::empty({2, nedges}, torch::kInt64);
  if (nedges > 0) {
    std::memcpy(edge_index[0].data_ptr<int64_t>(), centers.data(), nedges * sizeof(int64_t));
    std::memcpy(edge_index[1].data_ptr<int64_t>(), neighbors.data(), nedges * sizeof(int64_t));
  }
  auto num_local = torch::full({1}, static_cast<int64_t>(nlocal), torch::kInt64);

  std::vector<torch::Tensor> inputs = {pos.to(device, dtype), types.to(device),
                                       edge_index.to(device), num_local.to(device)};
  std::vector<torch::Tensor> outputs;
  try {
    outputs = model->run(inputs);
  } catch (const std::exception &e) {
    error->one(FLERR, "Pair style {}: running model {} failed ({} atoms, {} edges): {}",
               style_kind, model_path, nall, nedges, e.what());
  }
  if (outputs.size() != 5)
    error->one(FLERR, "Pair style {}: model {} returned {} outputs, expected 5 (atomic_energy, "
                      "total_energy, forces, virial, atom_virial)",
               style_kind, model_path, outputs.size());

  auto to_host = [](const torch::Tensor &t) {
    return t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  };

  const auto forces = to_host(outputs[2]);
  const double *fm = forces.data_ptr<double>();
  for (int i = 0; i < nall; i++) {
    f[i][0] += fm[3 * i + 0];
    f[i][1] += fm[3 * i + 1];
    f[i][2] += fm[3 * i + 2];
  }

  if (eflag_global) eng_vdwl += to_host(outputs[1]).data_ptr<double>()[0];
  if (eflag_atom) {
    const auto ea = to_host(outputs[0]);
    const double *e = ea.data_ptr<double>();
    for (int i = 0; i < nlocal; i++) eatom[i] += e[i];
  }
  if (vflag_global) {
    const auto w = to_host(outputs[3]);
    const double *v = w.data_ptr<double>();
    virial[0] += v[0];
    virial[1] += v[4];
    virial[2] += v[8];
    virial[3] += v[1];
    virial[4] += v[2];
    virial[5] += v[5];
  }
  if (vflag_atom) {
    const auto wa = to_host(outputs[4]);
    const double *v = wa.data_ptr<double>();
    for (int i = 0; i < nall; i++) {
      const double *vi = v + 9 * i;
      vatom[i][0] += vi[0];
      vatom[i][1] += vi[4];
      vatom[i][2] += vi[8];
      vatom[i][3] += vi[1];
      vatom[i][4] += vi[2];
      vatom[i][5] += vi[5];
    }
  }
}
