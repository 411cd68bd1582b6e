import numpy as np
import pytest

from nequip.data import TypeMapper


def test_maps_symbols_and_numbers_in_type_names_order():
    tm = TypeMapper(["O", "Cu", "H"])
    assert tm.num_types == 3 and tm.type_names == ["O", "Cu", "H"]
    types = tm.atom_types(["Cu", "H", "O", "Cu"])
    assert types.dtype == np.int64 and types.tolist() == [1, 2, 0, 1]
    assert tm.atom_types(np.array([29, 1, 8])).tolist() == [1, 2, 0]
    assert tm.atom_types([]).shape == (0,)


def test_unknown_species_names_frame_and_fix():
    tm = TypeMapper(["Cu", "O"])
    msg = (
        "species 'Zn' in frame 12 of train.xyz is not in type_names [Cu, O]; "
        "add it to type_names in the config"
    )
    with pytest.raises(ValueError) as e:
        tm.atom_types(["Cu", "Zn"], where="frame 12 of train.xyz")
    assert str(e.value) == msg
    with pytest.raises(ValueError, match="species 'Zn' in frame 3"):
        tm.atom_types(np.array([29, 30]), where="frame 3 of x.xyz")


@pytest.mark.parametrize(
    "names,match",
    [
        ([], "empty"),
        (["Cu", "Cu"], "duplicates: Cu"),
        (["cu"], "'cu' is not a chemical symbol; did you mean 'Cu'"),
        (["Xx"], "'Xx' is not a chemical symbol"),
        ("Cu", "must be a list"),
    ],
)
def test_bad_type_names(names, match):
    with pytest.raises(ValueError, match=match):
        TypeMapper(names)
