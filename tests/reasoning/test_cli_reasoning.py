"""`vb predict` with --query/--rewriter and --gate, end to end: Gemini for both the rewriter / gate and the image
generator, on one loopback server."""

import json

import numpy as np
import pytest
from gemini_vlm_fake import IMAGE_MODEL, KEY, TEXT_MODEL, api_error
from PIL import Image

from vb_plugins.cli import main

QUERY = "the object that keeps food cold"


@pytest.fixture
def env(fake, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("VB_GEMINI_BASE_URL", fake.base_url)
    return fake


def images(folder, **brightness):
    folder.mkdir(exist_ok=True)
    for name, level in brightness.items():
        pixels = np.random.default_rng(level).integers(max(level - 20, 0), level + 20, (40, 56, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder


def predict(*args):
    return main(["predict", *[str(a) for a in args], "--model", f"gemini:{IMAGE_MODEL}", "--quiet"])


def rewrite_by_brightness(question, image):
    """Dark images hold a fridge, bright ones nothing, mid-gray ones break the model."""
    level = image.mean()
    if 100 < level < 160:
        return 400, api_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    return json.dumps({"absent": bool(level >= 160), "expression": "" if level >= 160 else "the white refrigerator"})


def test_vb_predict_rewrites_prints_records_and_skips_absent(env, tmp_path, capsys):
    env.answer = rewrite_by_brightness
    folder = images(tmp_path / "in", dark=40, bright=220)
    out = tmp_path / "out"
    assert predict("referring", folder, "-o", out, "--query", QUERY, "--rewriter", f"gemini:{TEXT_MODEL}") == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"{folder / 'dark.png'}: '{QUERY}' -> 'the white refrigerator'" in printed
    assert f"{folder / 'bright.png'}: '{QUERY}' -> absent: empty mask, nothing generated" in printed
    [painted] = env.image_requests  # the absent image was not sent to the generator
    assert "Paint the white refrigerator in this photo solid white" in painted["prompt"]
    dark = json.loads((out / "dark.json").read_text())
    assert dark["extras"]["rewrite"]["expression"] == "the white refrigerator"
    assert dark["settings"]["rewriter"] == f"gemini:{TEXT_MODEL}" and dark["spec"]["expression"] == QUERY
    assert dark["prompts"] == [painted["prompt"]]
    mask = np.load(out / "dark.referring.npy")
    assert mask.shape == (40, 56) and mask.any() and (out / "dark.generated.png").exists()
    bright = json.loads((out / "bright.json").read_text())
    assert bright["extras"]["rewrite"]["absent"] and bright["prompts"] == []
    assert not np.load(out / "bright.referring.npy").any() and not (out / "bright.generated.png").exists()
    assert sorted(bright["outputs"]) == ["bright.confidence.npy", "bright.json", "bright.preview.png",
                                         "bright.referring.npy", "bright.referring.png"]

    # The same run again: both done, nothing asked; another rewriter is another configuration.
    assert predict("referring", folder, "-o", out, "--query", QUERY, "--rewriter", f"gemini:{TEXT_MODEL}") == 0
    assert len(env.text_requests) == 2 and len(env.image_requests) == 1
    assert predict("referring", folder, "-o", out, "--query", QUERY, "--rewriter", "gemini:gemini-2.5-flash") == 1
    assert "was predicted with rewriter \"gemini:gemini-2.5-pro\"" in capsys.readouterr().err
    assert predict("referring", folder, "-o", out, "--expression", QUERY) == 1  # unguided into a guided folder
    assert "rewriter" in capsys.readouterr().err


def test_a_failed_rewrite_is_one_line_and_the_other_images_are_written(env, tmp_path, capsys):
    env.answer = rewrite_by_brightness
    folder = images(tmp_path / "in", a_dark=40, b_broken=128, c_bright=220)
    out = tmp_path / "out"
    assert predict("referring", folder, "-o", out, "--query", QUERY, "--rewriter", f"gemini:{TEXT_MODEL}") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"vb predict referring: error: {folder / 'b_broken.png'}: gemini:{TEXT_MODEL}: invalid argument "
                   "(HTTP 400 INVALID_ARGUMENT): Request contains an invalid argument."]
    assert (out / "a_dark.json").exists() and (out / "c_bright.json").exists() and not (out / "b_broken.json").exists()
    env.answer = lambda question, image: json.dumps({"absent": False, "expression": "the fridge"})
    assert predict("referring", folder, "-o", out, "--query", QUERY, "--rewriter", f"gemini:{TEXT_MODEL}") == 0
    assert json.loads((out / "b_broken.json").read_text())["extras"]["rewrite"]["expression"] == "the fridge"
    assert len(env.text_requests) == 4  # the rerun asked about the failed image only


def test_vb_predict_gates_instance_classes(env, tmp_path, capsys):
    env.answer = lambda question, image: json.dumps({"present": " cat " in question,
                                                     "score": 0.9 if " cat " in question else 0.1})
    folder = images(tmp_path / "in", a=90)
    out = tmp_path / "out"
    assert predict("instance", folder / "a.png", "-o", out, "--classes", "cat, dog", "--gate",
                   f"gemini:{TEXT_MODEL}", "--gate-threshold", "0.5") == 0
    assert capsys.readouterr().out.splitlines() == [f"{folder / 'a.png'}: present: cat (0.90); absent: dog (0.10)"]
    [painted] = env.image_requests
    assert "Paint each cat" in painted["prompt"]
    record = json.loads((out / "a.json").read_text())
    assert [(g["phrase"], g["present"], g["score"]) for g in record["extras"]["gate"]] == [("cat", True, 0.9),
                                                                                          ("dog", False, 0.1)]
    assert record["settings"]["gate"] == f"gemini:{TEXT_MODEL}" and record["extras"]["classes"] == ["cat"]


@pytest.mark.parametrize("args, message", [
    (["referring", "--query", QUERY], "--query: needs a model to rewrite it (--rewriter MODEL"),
    (["referring", "--expression", "a cup", "--rewriter", "gemini:x"], "--rewriter: needs the reasoning query"),
    (["referring", "--query", QUERY, "--expression", "a", "--rewriter", "gemini:x"], "--query and --expression"),
    (["semantic", "--classes", "cat", "--query", QUERY, "--rewriter", "gemini:x"],
     "--query: task 'semantic' takes no query"),
    (["referring", "--expression", "a cup", "--gate", "gemini:x"], "presence gate: applies to the classes"),
    (["instance", "--classes", "cat", "--gate", "gemini:x", "--gate-threshold", "2"],
     "gate_threshold=2.0: must be from 0 to 1"),
    (["instance", "--classes", "cat", "--gate-threshold", "0.3"], "given without a presence gate"),
    (["instance", "--classes", "cat", "--gate", "./no-such-vlm"], "gate model './no-such-vlm': no such directory"),
])
def test_combinations_that_cannot_work_are_one_line_errors_and_write_nothing(env, tmp_path, capsys, args, message):
    folder = images(tmp_path / "in", a=90)
    out = tmp_path / "out"
    assert predict(args[0], folder, "-o", out, *args[1:]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists() and env.text_requests == [] and env.image_requests == []


def write_mask(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(mask, np.uint8)).save(path)


def test_reasonseg_protocol_per_image_queries_rewritten_then_giou(env, tmp_path, capsys):
    """One query per image from --queries, rewritten by the VLM, scored with `vb eval referring` (gIoU/cIoU)."""
    env.answer = lambda question, image: json.dumps(
        {"absent": "unicorn" in question, "expression": "" if "unicorn" in question else "the white refrigerator"})
    folder = images(tmp_path / "in", kitchen=40, meadow=90)
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps({"kitchen.png": "the object that keeps food cold", "meadow": "the unicorn"}))
    truth = np.zeros((40, 56), np.uint8)
    truth[8:30, 10:40] = 255  # where the fake image model paints the referred object
    write_mask(tmp_path / "gt" / "kitchen.png", truth)
    write_mask(tmp_path / "gt" / "meadow.png", np.zeros((40, 56)))
    out = tmp_path / "out"
    assert predict("referring", folder, "-o", out, "--queries", queries, "--rewriter", f"gemini:{TEXT_MODEL}") == 0
    questions = sorted(r["question"] for r in env.text_requests)
    assert '"the object that keeps food cold"' in questions[0] and '"the unicorn"' in questions[1]
    assert len(env.image_requests) == 1  # the unicorn is absent: not painted
    kitchen = json.loads((out / "kitchen.json").read_text())
    assert kitchen["extras"]["rewrite"]["query"] == "the object that keeps food cold"
    assert kitchen["settings"]["queries"] == "per image" and "expression" not in kitchen["spec"]
    capsys.readouterr()
    assert main(["eval", "referring", "--pred", str(out), "--gt", str(tmp_path / "gt"), "-o",
                 str(tmp_path / "report.json")]) == 0
    metrics = json.loads((tmp_path / "report.json").read_text())["aggregate"]["metrics"]
    assert metrics["giou"] == pytest.approx(1.0) and metrics["ciou"] == pytest.approx(1.0)
    # Resuming with the same file does nothing; without --queries the folder is another configuration.
    assert predict("referring", folder, "-o", out, "--queries", queries, "--rewriter", f"gemini:{TEXT_MODEL}") == 0
    assert len(env.text_requests) == 2
    assert predict("referring", folder, "-o", out, "--query", "x", "--rewriter", f"gemini:{TEXT_MODEL}") == 1


def test_saco_protocol_per_sample_phrases_gated_then_il_mcc(env, tmp_path, capsys):
    """(image, phrase) samples with --queries, gated or not, scored with `vb eval instance`: the gate turns the
    negative sample's false instance into a true negative (IL_MCC 0 -> 1)."""
    env.answer = lambda question, image: json.dumps({"present": " cat " in question,
                                                     "score": 0.9 if " cat " in question else 0.1})
    folder = images(tmp_path / "in", sample_cat=40, sample_dog=40)
    phrases = tmp_path / "phrases.json"
    phrases.write_text(json.dumps({"sample_cat": "cat", "sample_dog": "dog"}))
    truth = np.zeros((40, 56), np.uint8)
    truth[8:30, 10:40] = 1
    write_mask(tmp_path / "gt" / "sample_cat.png", truth)
    write_mask(tmp_path / "gt" / "sample_dog.png", np.zeros((40, 56)))  # no dog: a negative sample
    reports = {}
    for name, extra in (("gated", ["--gate", f"gemini:{TEXT_MODEL}"]), ("plain", [])):
        out = tmp_path / name
        painted = len(env.image_requests)
        assert predict("instance", folder, "-o", out, "--queries", phrases, *extra) == 0
        reports[name] = len(env.image_requests) - painted
        assert main(["eval", "instance", "--pred", str(out), "--gt", str(tmp_path / "gt"), "-o",
                     str(tmp_path / f"{name}.json")]) == 0
    gated = json.loads((tmp_path / "gated.json").read_text())["aggregate"]
    plain = json.loads((tmp_path / "plain.json").read_text())["aggregate"]
    assert reports == {"gated": 1, "plain": 2}
    assert gated["image_level"] == {"TP": 1, "FP": 0, "TN": 1, "FN": 0} and gated["metrics"]["IL_MCC"] == 1.0
    assert plain["image_level"] == {"TP": 1, "FP": 1, "TN": 0, "FN": 0} and plain["metrics"]["IL_MCC"] == 0.0
    record = json.loads((tmp_path / "gated" / "sample_dog.json").read_text())
    assert record["extras"]["phrase"] == "dog" and record["extras"]["classes"] == []
    assert "Paint each cat" in env.image_requests[0]["prompt"]


@pytest.mark.parametrize("content, args, message", [
    ('{"a.png": "x"}', ["referring", "--query", "y", "--rewriter", "gemini:x"], "--queries and --query: give one"),
    ('{"b.png": "x"}', ["referring"], "no text for a.png"),
    ('["x"]', ["referring"], "expected a JSON object of non-empty texts"),
    ('{"a.png": "x"', ["referring"], "not valid JSON"),
    ('{"a.png": "x"}', ["depth"], "--queries: gives a query per image (referring) or a phrase per image"),
    ('{"a.png": "x"}', ["semantic", "--gate", "gemini:x"], "not for task 'semantic'"),
    ('{"a.png": " "}', ["instance"], "expected a JSON object of non-empty texts"),
])
def test_queries_file_problems_are_one_line(env, tmp_path, capsys, content, args, message):
    folder = images(tmp_path / "in", a=90)
    queries = tmp_path / "q.json"
    queries.write_text(content)
    out = tmp_path / "out"
    assert predict(args[0], folder, "-o", out, "--queries", queries, *args[1:]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()
