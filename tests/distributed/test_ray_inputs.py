"""What a distributed run reads: folders, globs, lists of paths and URIs, named as `vb predict` names them."""

from __future__ import annotations

import numpy as np
import pytest
from ray_test_helpers import write_images

from vb_plugins.cli.predict_command import expand_images, output_stems
from vb_plugins.distributed.inputs import read_image_source, resolve_inputs
from vb_plugins.errors import InputError


def _pairs(items):
    return [(item.source, item.stem) for item in items]


def test_folders_get_the_single_process_names_even_when_stems_repeat(tmp_path):
    first = write_images(tmp_path / "a" / "day", 2)
    second = write_images(tmp_path / "b" / "day", 2)
    (tmp_path / "a" / "day" / "notes.txt").write_text("not an image")

    items = resolve_inputs([tmp_path / "a" / "day", tmp_path / "b" / "day"])

    expected = output_stems(expand_images([tmp_path / "a" / "day", tmp_path / "b" / "day"]))
    assert _pairs(items) == [(str(path.resolve()), stem) for path, stem in expected]
    assert [item.stem for item in items] == ["a_day_img00", "a_day_img01", "b_day_img00", "b_day_img01"]
    assert len(first + second) == 4


def test_globs_lists_of_paths_and_file_uris(tmp_path):
    images = write_images(tmp_path / "set", 3)
    listing = tmp_path / "lists" / "todo.txt"
    listing.parent.mkdir()
    listing.write_text(f"# a comment\n\n../set/{images[0].name}\n{images[1]}\nfile://{images[2]}\n")

    assert [i.stem for i in resolve_inputs(str(tmp_path / "set" / "*01.png"))] == ["img01"]
    assert [i.stem for i in resolve_inputs(str(tmp_path / "**" / "img0[02].png"))] == ["img00", "img02"]
    listed = resolve_inputs(listing)
    assert [i.source for i in listed] == [str(images[0].parent / images[0].name), str(images[1]),
                                          f"file://{images[2]}"]
    from_uri = resolve_inputs(f"file://{tmp_path / 'set'}")
    assert _pairs(from_uri) == [(f"file://{p}", p.stem) for p in images]
    assert [i.stem for i in resolve_inputs(f"file://{tmp_path}/set/*2.png")] == ["img02"]
    np.testing.assert_array_equal(read_image_source(f"file://{images[1]}"), read_image_source(str(images[1])))


def test_bad_inputs_are_one_line_errors(tmp_path):
    write_images(tmp_path / "set", 1)
    (tmp_path / "set" / "img00.jpg").write_bytes((tmp_path / "set" / "img00.png").read_bytes())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.txt").write_text("# nothing\n")
    (tmp_path / "broken.png").write_bytes(b"nope")
    cases = [
        (tmp_path / "missing", "no such file or directory"),
        (tmp_path / "empty", "directory holds no images"),
        (tmp_path / "empty.txt", "the list of paths is empty"),
        (str(tmp_path / "*.webp"), "the pattern matches no image files"),
        (f"file://{tmp_path}/nothing-here", "no such file or folder"),
        (tmp_path / "set", r"would all be saved as \S*set_img00\.\*; rename them"),
    ]
    for given, message in cases:
        with pytest.raises(InputError, match=message) as caught:
            resolve_inputs(given)
        assert len(str(caught.value).splitlines()) == 1
    with pytest.raises(InputError, match=f"file://{tmp_path}/broken.png: not a readable image file"):
        read_image_source(f"file://{tmp_path}/broken.png")
