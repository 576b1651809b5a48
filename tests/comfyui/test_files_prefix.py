"""Save prefixes through links: a refused prefix creates no folder anywhere (issue 15, item 4)."""

import numpy as np
import pytest

from comfyui_nodes import files
from vb_plugins.errors import InputError


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("prefix", ["link/new/deeper/depth", "link/depth", "dangling/made/depth"])
def test_a_prefix_through_a_link_out_creates_no_folder_outside(tmp_path, prefix):
    output, outside = tmp_path / "output", tmp_path / "outside"
    output.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("user data")
    (output / "link").symlink_to(outside, target_is_directory=True)
    (output / "dangling").symlink_to(tmp_path / "not-yet", target_is_directory=True)
    before = tree(tmp_path)
    with pytest.raises(InputError) as caught:
        files.save_arrays(output, prefix, [np.zeros((2, 2), np.float32)], "npy")
    message = str(caught.value)
    assert message == f"filename_prefix {prefix!r}: leads out of ComfyUI's output folder"
    assert "\n" not in message and "Traceback" not in message
    assert tree(tmp_path) == before  # nothing made outside (nor inside) the output folder
    assert not (tmp_path / "not-yet").exists()
    assert (outside / "keep.txt").read_text() == "user data"


def test_new_nested_folders_inside_the_output_folder_are_still_created(tmp_path):
    output = tmp_path / "output"
    output.mkdir()
    (output / "inside").mkdir()
    (output / "alias").symlink_to(output / "inside", target_is_directory=True)
    saved = files.save_arrays(output, "alias/x/y/depth", [np.ones((2, 2), np.float32)], "npy")
    assert (output / "inside" / "x" / "y" / "depth_00001_.npy").is_file()
    assert saved[0]["subfolder"] == "alias/x/y"
