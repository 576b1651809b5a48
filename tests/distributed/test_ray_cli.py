"""`vb predict ... --ray`: the command line of the distributed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ray_test_helpers import manifest_rows, write_images

from vb_plugins.cli import main


def test_vb_predict_ray_writes_the_layout_and_exits_1_listing_a_corrupt_image(ray_cluster, tmp_path, capsys):
    images = write_images(tmp_path / "in", 3)
    (tmp_path / "in" / "zz-corrupt.jpg").write_bytes(b"\xff\xd8 not really")
    listing = tmp_path / "todo.txt"
    listing.write_text("".join(f"in/{p.name}\n" for p in sorted((tmp_path / "in").iterdir())))
    out = tmp_path / "out"
    assert main(["predict", "depth", str(images[0]), "-o", str(out), "--seed", "3", "--quiet"]) == 0  # local
    capsys.readouterr()

    code = main(["predict", "depth", str(listing), "-o", str(out), "--ray", "--workers", "2", "--batch-size", "1",
                 "--seed", "3"])

    err = capsys.readouterr().err
    assert code == 1
    assert "1 image(s) failed, listed in" in err and "zz-corrupt.jpg" in err and "Traceback" not in err
    assert "2 image(s) predicted" in err and "skipping 1 image(s) already done" in err  # the local run's image
    for image in images:
        record = json.loads((out / f"{image.stem}.json").read_text())
        assert record["task"] == "depth" and record["settings"]["seed"] == 3
    rows = manifest_rows(out)
    assert {row["stem"]: row["status"] for row in rows} == {
        "img00": "done", "img01": "done", "img02": "done", "zz-corrupt": "failed"}
    assert [row["run"] for row in rows if row["stem"] == "img00"] == [None]  # made by the single-process run

    code = main(["predict", "depth", *map(str, images), "-o", str(out), "--ray", "--quiet", "--seed", "3"])
    assert code == 0 and "skipping 3 image(s) already done" in capsys.readouterr().err
    code = main(["predict", "depth", *map(str, images), "-o", str(out), "--quiet", "--seed", "3"])  # local
    assert code == 0 and "skipping 3 image(s) already done" in capsys.readouterr().err
    code = main(["predict", "depth", *map(str, images), "-o", str(out), "--ray", "--quiet"])  # seed 0: refused
    err = capsys.readouterr().err.strip()
    assert code != 0 and "seed 3, this run asks for 0" in err and len(err.splitlines()) == 1


def test_ray_options_without_ray_or_with_a_folder_as_address_are_one_line_errors(tmp_path, capsys):
    write_images(tmp_path / "in", 1)
    for argv, message in (
            (["--workers", "2"], "--workers, --gpus-per-worker and --cpus-per-worker need --ray"),
            (["--ray", str(tmp_path / "in")], "that is a file or folder, not a Ray address")):
        code = main(["predict", "depth", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *argv])
        err = capsys.readouterr().err.strip()
        assert code != 0 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_bare_ray_flag_starts_a_ray_on_this_machine(tmp_path):
    images = write_images(tmp_path / "in", 2)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run([sys.executable, "-m", "vb_plugins.cli", "predict", "depth", str(tmp_path / "in"),
                             "-o", str(tmp_path / "out"), "--ray"], capture_output=True, text=True, env=env,
                            timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 node(s)" in result.stderr and "2 image(s) predicted" in result.stderr
    assert sorted(row["stem"] for row in manifest_rows(tmp_path / "out")) == [p.stem for p in images]
