"""Bad-input and fault catalogue, model-file half (issue 13): what a user gets from the model files,
nequip-package / nequip-compile / nequip-evaluate and the ASE calculator when a model or a file is
broken, edited or cannot be written. Each case asserts the exact outcome (error text, exit code,
files left intact, file modes). The LAMMPS cases are in tests/lammps/test_pair_errors.py."""

import errno
import json
import os
import stat
import zipfile

import numpy as np
import pytest
import torch

from helpers import TINY_MODEL, cu_au_atoms, rewrite_pt2_metadata, small_model

from nequip.integrations.ase import NequIPCalculator
from nequip.model.package import read_package, write_package
from nequip.model.spec import ModelSpec
from nequip.scripts.compile import main as compile_main
from nequip.scripts.evaluate import main as evaluate_main
from nequip.scripts.package import main as package_main


@pytest.fixture(scope="module")
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, emt_xyz, umask_022):
    """A 1-epoch training run written under umask 022."""
    from nequip.scripts.train import main

    folder = tmp_path_factory.mktemp("faults_run")
    config = folder / "config.yaml"
    config.write_text(f"type_names: [Cu, Au]\nr_max: 3.6\nmodel: {{kind: nequip}}\ndata: {{train: {emt_xyz}}}\n")
    assert main([str(config), f"run_dir={folder / 'run'}", "trainer.max_epochs=1", *TINY_MODEL]) == 0
    return folder / "run"


@pytest.fixture(scope="module")
def nan_checkpoint(run_dir):
    """best.ckpt with one weight (of the EMA and of the raw model) set to NaN: a diverged training."""
    ckpt = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    for name, value in ckpt["state_dict"].items():
        if value.is_floating_point() and value.numel() > 1 and name.endswith("weight"):
            value.view(-1)[1] = float("nan")
    path = run_dir.parent / "nan.ckpt"
    torch.save(ckpt, path)
    return str(path)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite_zip(path, files):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)


@pytest.fixture
def package(tmp_path):
    model = small_model()
    return write_package(model.spec, model.state_dict(), str(tmp_path / "m.nequip.zip"))


# ---------------------------------------------------------------- item 6: modes, atomic writes


def test_training_outputs_honour_the_umask(run_dir):
    """Checkpoints, config.yaml and statistics.json: 0644 under umask 022 (not mkstemp's 0600)."""
    written = [*sorted((run_dir / "checkpoints").glob("*.ckpt")), run_dir / "config.yaml", run_dir / "statistics.json"]
    assert len(written) >= 4 and all(p.exists() for p in written)
    assert {str(p): oct(mode(p)) for p in written} == {str(p): "0o644" for p in written}


def test_package_honours_the_umask_and_has_no_temporary_left(run_dir, tmp_path, umask_022):
    out = tmp_path / "m.nequip.zip"
    assert package_main(["build", str(run_dir / "checkpoints" / "best.ckpt"), str(out)]) == 0
    assert mode(out) == 0o644 and os.listdir(tmp_path) == ["m.nequip.zip"]


def test_failed_package_write_leaves_the_earlier_package_intact(package, tmp_path, monkeypatch):
    before = open(package, "rb").read()
    original = zipfile.ZipFile.writestr

    def disk_full_after_manifest(self, name, data, *args, **kwargs):
        if name != "manifest.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full_after_manifest)
    model = small_model(seed=1)
    with pytest.raises(ValueError, match=r"cannot write '.*m\.nequip\.zip': No space left on device"):
        write_package(model.spec, model.state_dict(), package)
    assert open(package, "rb").read() == before and os.listdir(tmp_path) == ["m.nequip.zip"]


def test_failed_compile_leaves_the_earlier_pt2_intact(tmp_path, monkeypatch):
    """The package writer fails half way (disk full): the earlier .pt2 is untouched, no temporary left."""
    import torch._inductor

    from nequip.export.aoti import compile_model

    old = tmp_path / "m.nequip.pt2"
    old.write_bytes(b"an earlier good package")

    def half_written(program, package_path, inductor_configs):
        with open(package_path, "wb") as f:
            f.write(b"half a pack")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", half_written)
    model = small_model()
    with pytest.raises(ValueError, match=r"cannot write '.*m\.nequip\.pt2': No space left on device"):
        compile_model(model, model.spec, str(old))
    assert old.read_bytes() == b"an earlier good package" and os.listdir(tmp_path) == ["m.nequip.pt2"]


def test_unwritable_target_is_refused_before_compiling(run_dir, tmp_path, monkeypatch, capsys):
    import nequip.export.aoti as aoti

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled before checking the target folder")

    monkeypatch.setattr(aoti, "export_program", no_compile)
    best = str(run_dir / "checkpoints" / "best.ckpt")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert compile_main([best, str(blocker / "m.nequip.pt2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nequip-compile: error: cannot create the folder") and "a_file" in err and "\n" not in err

    readonly = tmp_path / "readonly"
    readonly.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(readonly) else real_access(p, m, **kw))
    assert compile_main([best, str(readonly / "m.nequip.pt2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"nequip-compile: error: cannot write '{readonly / 'm.nequip.pt2'}': the folder '{readonly}' is not writable; choose another output path"
    assert package_main(["build", best, str(readonly / "m.nequip.zip")]) == 2
    assert "is not writable" in capsys.readouterr().err


# ---------------------------------------------------------------- item 2: non-finite weights


@pytest.mark.parametrize("cli", ["package", "compile", "evaluate"])
def test_nan_weight_model_is_refused(cli, nan_checkpoint, emt_xyz, tmp_path, monkeypatch, capsys):
    import nequip.export.aoti as aoti

    monkeypatch.setattr(aoti, "export_program", lambda *a, **k: pytest.fail("compiled a NaN model"))
    argv = {
        "package": (package_main, ["build", nan_checkpoint, str(tmp_path / "m.nequip.zip")]),
        "compile": (compile_main, [nan_checkpoint, str(tmp_path / "m.nequip.pt2")]),
        "evaluate": (evaluate_main, [nan_checkpoint, emt_xyz, "--json"]),
    }
    main, args = argv[cli]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and os.listdir(tmp_path) == []
    assert err.startswith(f"nequip-{cli}: error: '{nan_checkpoint}' has non-finite weights: parameter '")
    assert "NaN/inf value(s)" in err and err.count("\n") == 1


def test_write_package_refuses_nan_weights(tmp_path):
    model = small_model()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    name = sorted(k for k, v in weights.items() if v.is_floating_point() and v.numel() > 0)[0]
    weights[name].view(-1)[0] = float("inf")
    with pytest.raises(ValueError, match=f"parameter '{name}' holds 1 NaN/inf"):
        write_package(model.spec, weights, str(tmp_path / "m.nequip.zip"))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- item 2: nequip-evaluate


class _NaNOnFrame(torch.nn.Module):
    """The model, with a NaN energy predicted for dataset frame ``bad`` (as a broken model would)."""

    def __init__(self, model, bad):
        super().__init__()
        self.model, self.bad, self.seen = model, bad, 0

    def forward(self, batch):
        out = dict(self.model(batch))
        frames = batch["num_atoms"].numel()
        if self.seen <= self.bad < self.seen + frames:
            energy = out["total_energy"].clone()
            energy[self.bad - self.seen] = float("nan")
            out["total_energy"] = energy
        self.seen += frames
        return out


def test_evaluate_json_is_valid_json(run_dir, emt_xyz, capsys):
    assert evaluate_main([str(run_dir / "checkpoints" / "best.ckpt"), emt_xyz, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["forces_mae"] > 0 and all(np.isfinite(v) for v in metrics.values())


def test_evaluate_names_frames_with_non_finite_predictions(run_dir, emt_xyz, monkeypatch, capsys):
    import nequip.scripts.evaluate as cli
    from nequip.model.io import load_model

    def broken(path, device="cpu"):
        model, spec = load_model(path, device)
        return _NaNOnFrame(model, bad=5), spec

    monkeypatch.setattr(cli, "load_model", broken)
    assert evaluate_main([str(run_dir / "checkpoints" / "best.ckpt"), emt_xyz, "--json", "--batch-size", "4"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("nequip-evaluate: error: the model predicts NaN or infinite energies/forces/stress for frame(s) 5 of the data")


# ---------------------------------------------------------------- item 7: integrity of .nequip.zip


def test_package_carries_member_digests(package):
    manifest = json.loads(members(package)["manifest.json"])
    assert set(manifest["digests"]) == {"spec.json", "weights.pt"}
    assert all(v.startswith("sha256:") and len(v) == 7 + 64 for v in manifest["digests"].values())


def test_edited_package_member_is_refused(package, capsys):
    files = members(package)
    spec = json.loads(files["spec.json"])
    spec["r_max"] = 5.0
    rewrite_zip(package, {**files, "spec.json": json.dumps(spec, indent=2)})
    with pytest.raises(ValueError, match=r"member spec\.json does not match the digest in manifest\.json"):
        read_package(package)
    assert package_main(["info", package]) == 2
    err = capsys.readouterr().err
    assert "spec.json does not match the digest" in err and err.count("\n") == 1

    weights = bytearray(files["weights.pt"])
    weights[-100] ^= 0xFF
    rewrite_zip(package, {**files, "weights.pt": bytes(weights)})
    with pytest.raises(ValueError, match=r"member weights\.pt does not match the digest"):
        read_package(package)


def test_manifest_disagreeing_with_spec_is_refused(package):
    files = members(package)
    manifest = json.loads(files["manifest.json"])
    manifest["type_names"] = ["Au", "Cu"]
    rewrite_zip(package, {**files, "manifest.json": json.dumps(manifest)})
    with pytest.raises(ValueError, match=r"inconsistent: manifest\.json has type_names \['Au', 'Cu'\] but spec\.json has \['Cu', 'Au'\]"):
        read_package(package)


@pytest.mark.parametrize("damage", ["truncated", "garbled", "bad_json", "no_weights"])
def test_corrupt_package_members_are_one_line_errors(damage, package, capsys):
    files = members(package)
    if damage == "truncated":
        data = open(package, "rb").read()
        open(package, "wb").write(data[: len(data) // 2])
        expected = "is not a nequip model package, or a damaged one"
    elif damage == "garbled":  # compressed bytes of weights.pt flipped inside the zip
        data = bytearray(open(package, "rb").read())
        with zipfile.ZipFile(package) as zf:
            info = zf.getinfo("weights.pt")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        for i in range(start + 10, start + 60):
            data[i] ^= 0x5A
        open(package, "wb").write(bytes(data))
        expected = "is not a nequip model package, or a damaged one"
    elif damage == "bad_json":  # a spec.json that is not JSON, with a digest that matches it
        from nequip.model.package import member_digest

        manifest = json.loads(files["manifest.json"])
        manifest["digests"]["spec.json"] = member_digest(b"{not json")
        rewrite_zip(package, {**files, "manifest.json": json.dumps(manifest), "spec.json": b"{not json"})
        expected = "member spec.json is not valid JSON"
    else:
        rewrite_zip(package, {n: d for n, d in files.items() if n != "weights.pt"})
        expected = "is not a nequip model package: member weights.pt is missing"
    assert package_main(["info", package]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nequip-package: error: ") and expected in err and err.count("\n") == 1, err


def test_package_without_digests_loads_with_a_warning(package):
    """Packages written before digests existed: loaded, with a warning saying they are unchecked."""
    files = members(package)
    manifest = json.loads(files["manifest.json"])
    del manifest["digests"]
    rewrite_zip(package, {**files, "manifest.json": json.dumps(manifest)})
    with pytest.warns(UserWarning, match="written before packages carried digests"):
        _, spec, _ = read_package(package)
    assert spec.type_names == ("Cu", "Au")


# ---------------------------------------------------------------- issue 15 item 3: file versions


def test_file_from_an_incompatible_version_is_refused(package, tmp_path):
    from nequip import __version__

    files = members(package)
    major, minor = __version__.split(".")[:2]
    newer = f"{major}.{int(minor) + 1}.0"
    spec = json.loads(files["spec.json"])
    spec["framework_version"] = newer
    model = small_model()
    path = write_package(ModelSpec.from_dict(spec), model.state_dict(), str(tmp_path / "newer.nequip.zip"))
    with pytest.raises(ValueError, match=rf"was written by nequip {newer}, which this nequip {__version__} cannot read"):
        read_package(path)
    spec["framework_version"] = f"{int(major) + 1}.0.0"
    path = write_package(ModelSpec.from_dict(spec), model.state_dict(), str(tmp_path / "major.nequip.zip"))
    with pytest.raises(ValueError, match=rf"written by nequip {int(major) + 1}\.0\.0"):
        read_package(path)


# ---------------------------------------------------------------- items 3 and 8: ASE calculator


@pytest.fixture(scope="module")
def calc():
    model = small_model()
    return NequIPCalculator(model, model.spec)


def test_ase_coincident_atoms_are_an_error(calc):
    atoms = cu_au_atoms(0)
    atoms.positions[5] = atoms.positions[2] + [0.03, 0.0, 0.0]
    atoms.calc = calc
    symbols = atoms.get_chemical_symbols()
    with pytest.raises(ValueError, match=rf"^the atoms given to NequIPCalculator: atoms 2 \({symbols[2]}\) and 5 \({symbols[5]}\) are 0\.03 Å apart, closer than the minimum distance 0\.1 Å"):
        atoms.get_potential_energy()
    atoms.calc = NequIPCalculator(calc.model, calc.spec, min_distance=0.01)
    assert np.isfinite(atoms.get_potential_energy())


def test_ase_drifted_positions_give_the_wrapped_forces():
    """float32 model: a copy drifted by many cell vectors (periodic directions) == the wrapped one."""
    model = small_model(dtype="float32")
    calc = NequIPCalculator(model, model.spec)
    atoms = cu_au_atoms(3)
    atoms.wrap()
    drifted = atoms.copy()
    drifted.positions += np.array([1000, -700, 400]) @ atoms.cell.array
    results = []
    for a in (atoms, drifted):
        a.calc = calc
        results.append((a.get_potential_energy(), a.get_forces(), a.get_stress()))
    (e0, f0, s0), (e1, f1, s1) = results
    assert e1 == pytest.approx(e0, rel=1e-6)
    np.testing.assert_allclose(f1, f0, atol=1e-5)
    np.testing.assert_allclose(s1, s0, atol=1e-6)
    assert np.abs(f0).max() > 1e-2  # forces that are not trivially zero


def test_ase_wraps_only_periodic_directions(calc):
    atoms = cu_au_atoms(4)
    atoms.pbc = [True, True, False]
    atoms.calc = calc
    f0 = atoms.get_forces().copy()
    moved = atoms.copy()
    moved.positions += 50 * atoms.cell.array[0] + [0, 0, 30.0]  # whole cell shift + rigid shift along z
    moved.calc = calc
    np.testing.assert_allclose(moved.get_forces(), f0, atol=1e-10)


# ---------------------------------------------------------------- item 7 and 6: .pt2 files (slow)


@pytest.fixture(scope="module")
def pt2(tmp_path_factory, umask_022):
    """One compiled ase-target .pt2 of the small model for this module (~30 s)."""
    from nequip.export.aoti import compile_model

    folder = tmp_path_factory.mktemp("pt2_faults")
    model = small_model()
    return compile_model(model, model.spec, str(folder / "small.nequip.pt2"), target="ase")


@pytest.mark.slow
def test_pt2_mode_digest_and_no_temporary(pt2):
    from nequip.export.digest import metadata_digest

    assert mode(pt2) == 0o644 and os.listdir(os.path.dirname(pt2)) == ["small.nequip.pt2"]
    meta = torch._C._aoti.AOTIModelPackageLoader.load_metadata_from_package(pt2, "model")
    assert meta["spec_digest"] == metadata_digest(meta) and meta["framework_version"]
    atoms = cu_au_atoms(1)
    atoms.calc = NequIPCalculator.from_file(pt2)
    assert np.isfinite(atoms.get_potential_energy())


@pytest.mark.slow
@pytest.mark.parametrize("edit", [{"r_max": "4.0"}, {"type_names": "Au Cu"}])
def test_edited_pt2_metadata_is_refused(edit, pt2, tmp_path):
    from nequip.export.aoti import load_pt2

    edited = rewrite_pt2_metadata(pt2, tmp_path / "edited.nequip.pt2", **edit)
    with pytest.raises(ValueError, match=r"edited\.nequip\.pt2': its metadata .* does not match the digest it was compiled with"):
        load_pt2(edited, target="ase")
    with pytest.raises(ValueError, match="does not match the digest"):
        NequIPCalculator.from_file(edited)


@pytest.mark.slow
def test_pt2_from_an_incompatible_version_is_refused(pt2, tmp_path):
    from nequip import __version__
    from nequip.export.aoti import load_pt2
    from nequip.export.digest import metadata_digest

    meta = dict(torch._C._aoti.AOTIModelPackageLoader.load_metadata_from_package(pt2, "model"))
    meta["framework_version"] = f"{int(__version__.split('.')[0]) + 1}.0.0"
    newer = rewrite_pt2_metadata(pt2, tmp_path / "newer.nequip.pt2", framework_version=meta["framework_version"],
                                 spec_digest=metadata_digest(meta))
    with pytest.raises(ValueError, match=rf"written by nequip {meta['framework_version']}, which this nequip {__version__} cannot read"):
        load_pt2(newer, target="ase")


@pytest.mark.parametrize("content", ["zip_without_model", "truncated"])
def test_damaged_pt2_is_a_one_line_error(content, tmp_path):
    from nequip.export.aoti import load_pt2

    path = tmp_path / "damaged.nequip.pt2"
    if content == "zip_without_model":  # e.g. an interrupted copy, or another archive renamed
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("damaged/data/aotinductor/other/readme.txt", "not a model")
    else:
        path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ValueError) as err:
        load_pt2(str(path), target="ase")
    message = str(err.value)
    assert "damaged.nequip.pt2' is not an AOT Inductor package, or a damaged one (" in message
    assert "recompile it with nequip-compile" in message and "\n" not in message



@pytest.mark.parametrize(
    "device, message",
    [("foo", "device 'foo' is not a torch device; use cpu, cuda or cuda:N"), ("cuda:99", "device 'cuda:99' asked for, but ")],
)
def test_evaluate_on_an_unavailable_device_is_a_one_line_error(device, message, package, emt_xyz, capsys):
    assert evaluate_main([package, emt_xyz, "--json", "--device", device]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"nequip-evaluate: error: {message}") and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="compiling for cuda is valid on a CUDA machine")
def test_compile_for_cuda_without_cuda_is_refused_before_compiling(package, tmp_path, monkeypatch, capsys):
    import nequip.export.aoti as aoti

    monkeypatch.setattr(aoti, "export_program", lambda *a, **k: pytest.fail("compiled for a device that is not there"))
    out_path = tmp_path / "m.nequip.pt2"
    assert compile_main([package, str(out_path), "--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert err == f"nequip-compile: error: device 'cuda' asked for, but this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu\n"
    assert not out_path.exists()


@pytest.mark.parametrize("name", ["m.ckpt", "m.nequip.zip", "m.nequip.pt2", "m.pth"])
def test_every_bad_model_file_is_a_model_file_error(tmp_path, name):
    from nequip.errors import ModelFileError
    from nequip.model.io import load_model

    with pytest.raises(ModelFileError, match=f"model file '.*{name}' not found") as missing:
        load_model(str(tmp_path / name))
    assert isinstance(missing.value, FileNotFoundError)
    (tmp_path / name).write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match=name):
        load_model(str(tmp_path / name))
