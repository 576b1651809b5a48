"""Write the example workflows of this folder in both of ComfyUI's formats.

The UI-format files were saved before the decoders had their ``prompt`` input (the last one): the editor
opens them with every widget value in place and the prompt empty, which is what their API twins say.

Each example is written once, in API format (what ``POST /prompt`` takes: node id -> class_type and
inputs, links as ``[node id, output index]``), and converted to the UI format the ComfyUI editor
opens (nodes with positions, sockets, widget values in widget order, and a link table). The
conversion needs each node's inputs in order, read from a running server's ``/object_info``:

    python comfyui_nodes/workflows/make_workflows.py --object-info http://127.0.0.1:8188/object_info

(or a saved ``object_info`` JSON file). Standard library only; ComfyUI need not be importable.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}

QWEN_EDIT_PROMPT = "qwen_image_edit_depth"
VB_GENERATE = "vb_generate_depth_normals"


def qwen_image_edit_depth() -> dict:
    """(a) ComfyUI's native Qwen-Image-Edit graph paints the depth visualization VB Prompt asks for;
    VB Decode Depth reads metric depth from it, back on the input photo's grid, and saves ``.npy``."""
    return {
        "1": node("LoadImage", "Photo", image="example.png"),
        "2": node("ImageScaleToTotalPixels", "Scale to ~1 MP (Qwen-Image-Edit's size)", image=["1", 0],
                  upscale_method="lanczos", megapixels=1.0),
        "3": node("VBPrompt", "VB Prompt (depth)", task="depth", classes="", expression="", dialect="zero-shot",
                  scheme="(default)", options=""),
        "4": node("UNETLoader", "Load Qwen-Image-Edit", unet_name="qwen_image_edit_fp8_e4m3fn.safetensors",
                  weight_dtype="default"),
        "5": node("CLIPLoader", "Load text encoder", clip_name="qwen_2.5_vl_7b_fp8_scaled.safetensors",
                  type="qwen_image", device="default"),
        "6": node("VAELoader", "Load VAE", vae_name="qwen_image_vae.safetensors"),
        "7": node("ModelSamplingAuraFlow", None, model=["4", 0], shift=3.0),
        "8": node("CFGNorm", None, model=["7", 0], strength=1.0),
        "9": node("TextEncodeQwenImageEdit", "Edit instruction (from VB Prompt)", clip=["5", 0], prompt=["3", 0],
                  vae=["6", 0], image=["2", 0]),
        "10": node("TextEncodeQwenImageEdit", "Negative", clip=["5", 0], prompt="", vae=["6", 0], image=["2", 0]),
        "11": node("VAEEncode", None, pixels=["2", 0], vae=["6", 0]),
        "12": node("KSampler", None, model=["8", 0], seed=0, steps=20, cfg=2.5, sampler_name="euler",
                   scheduler="simple", positive=["9", 0], negative=["10", 0], latent_image=["11", 0], denoise=1.0),
        "13": node("VAEDecode", None, samples=["12", 0], vae=["6", 0]),
        "14": node("SaveImage", "Depth visualization", images=["13", 0], filename_prefix="vb/qwen_depth_vis"),
        "15": node("VBDecodeDepth", "VB Decode Depth (metres, on the photo's grid)", image=["13", 0],
                   spec=["3", 1], reference=["1", 0], mode="robust", group=1, fit="stretch", width=0, height=0,
                   min_confidence=0.1, preview="batch", colormap="inferno", save="npy",
                   filename_prefix="vb/qwen_depth", prompt=""),
        "16": node("MaskToImage", None, mask=["15", 2]),
        "17": node("PreviewImage", "Valid pixels", images=["16", 0]),
        "18": node("PreviewImage", "Uncertainty", images=["15", 3]),
    }


def vb_generate_depth_normals() -> dict:
    """(b) VB Generate end to end: the bundled model (or any pipeline from models/diffusers) paints
    depth and normals for a photo, three samples each; the decoders combine the samples, return
    values on the photo's grid and save ``.npy`` files."""
    return {
        "1": node("LoadImage", "Photo", image="example.png"),
        "2": node("VBLoadGenerator", None, model="bundled", lora="(none)", device="auto", dtype="auto",
                  cpu_offload=False, profile="auto"),
        "3": node("VBPrompt", "VB Prompt (depth)", task="depth", classes="", expression="", dialect="vision-banana",
                  scheme="(default)", options=""),
        "4": node("VBGenerate", "VB Generate (depth)", generator=["2", 0], image=["1", 0], spec=["3", 1], seed=0,
                  steps=0, guidance=0.0, megapixels=0.0, ensemble=3, batch_size=3, dialect="(model default)"),
        "5": node("VBDecodeDepth", None, image=["4", 0], spec=["3", 1], group=["4", 1], reference=["1", 0],
                  mode="auto", fit="stretch", width=0, height=0, min_confidence=0.1, preview="batch",
                  colormap="inferno", save="npy", filename_prefix="vb/depth", prompt=""),
        "6": node("VBPrompt", "VB Prompt (normals)", task="normals", classes="", expression="",
                  dialect="vision-banana", scheme="(default)", options=""),
        "7": node("VBGenerate", "VB Generate (normals)", generator=["2", 0], image=["1", 0], spec=["6", 1], seed=0,
                  steps=0, guidance=0.0, megapixels=0.0, ensemble=3, batch_size=3, dialect="(model default)"),
        "8": node("VBDecodeNormals", None, image=["7", 0], spec=["6", 1], group=["7", 1], reference=["1", 0],
                  mode="auto", fit="stretch", width=0, height=0, save="npy", filename_prefix="vb/normals",
                  prompt=""),
        "9": node("SaveImage", "Generated visualizations", images=["4", 0], filename_prefix="vb/generated_depth"),
        "10": node("PreviewImage", "Depth uncertainty", images=["5", 3]),
    }


EXAMPLES = {QWEN_EDIT_PROMPT: qwen_image_edit_depth, VB_GENERATE: vb_generate_depth_normals}


def node(class_type: str, title: str | None, **inputs) -> dict:
    entry = {"class_type": class_type, "inputs": inputs}
    if title:
        entry["_meta"] = {"title": title}
    return entry


# -- API -> UI ---------------------------------------------------------------------------------------

def _input_spec(info: dict, name: str) -> tuple[str, dict]:
    for group in ("required", "optional"):
        if name in info["input"].get(group, {}):
            spec = info["input"][group][name]
            kind = spec[0]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            return ("COMBO" if isinstance(kind, list) else kind), options
    raise KeyError(name)


def _ordered_inputs(info: dict) -> list[str]:
    order = info.get("input_order", {})
    return [*order.get("required", []), *order.get("optional", [])]


def _depths(workflow: dict) -> dict[str, int]:
    depths: dict[str, int] = {}

    def depth(node_id: str) -> int:
        if node_id not in depths:
            links = [v for v in workflow[node_id]["inputs"].values() if isinstance(v, list)]
            depths[node_id] = 1 + max((depth(str(src)) for src, _ in links), default=-1)
        return depths[node_id]

    for node_id in workflow:
        depth(node_id)
    return depths


def to_ui(workflow: dict, object_info: dict) -> dict:
    """An API-format workflow -> the editor's format (positions laid out by graph depth)."""
    depths = _depths(workflow)
    rows: dict[int, int] = {}
    nodes, links, link_id = [], [], 0
    outgoing: dict[tuple[str, int], list[int]] = {}
    pending = []  # (link id, src, src slot, dst, dst slot, type)
    for order, (node_id, entry) in enumerate(sorted(workflow.items(), key=lambda kv: (depths[kv[0]], int(kv[0])))):
        info = object_info[entry["class_type"]]
        sockets, widgets = [], []
        for name in _ordered_inputs(info):
            kind, options = _input_spec(info, name)
            value = entry["inputs"].get(name)
            is_widget = kind in WIDGET_TYPES and not options.get("forceInput")
            if isinstance(value, list):  # a link
                link_id += 1
                src, slot = str(value[0]), int(value[1])
                src_type = object_info[workflow[src]["class_type"]]["output"][slot]
                socket = {"name": name, "type": src_type if is_widget else kind, "link": link_id}
                if is_widget:
                    socket["widget"] = {"name": name}
                    widgets.append(options.get("default", "" if kind == "STRING" else 0))
                sockets.append(socket)
                pending.append((link_id, src, slot, node_id, len(sockets) - 1, src_type))
                outgoing.setdefault((src, slot), []).append(link_id)
            elif is_widget:
                if value is None:
                    value = options.get("default")
                widgets.append(value)
                if options.get("control_after_generate"):
                    widgets.append("fixed")
                if options.get("image_upload"):
                    widgets.append("image")
            else:
                sockets.append({"name": name, "type": kind, "link": None})
        column = depths[node_id]
        row = rows.get(column, 0)
        height = 80 + 26 * (len(sockets) + len(widgets))
        rows[column] = row + height + 40
        nodes.append({
            "id": int(node_id), "type": entry["class_type"], "pos": [40 + 400 * column, 40 + row],
            "size": [340, height], "flags": {}, "order": order, "mode": 0, "inputs": sockets,
            "outputs": [], "properties": {"Node name for S&R": entry["class_type"]}, "widgets_values": widgets,
            **({"title": entry["_meta"]["title"]} if entry.get("_meta", {}).get("title") else {}),
        })
    by_id = {str(n["id"]): n for n in nodes}
    for node_id, entry in workflow.items():
        info = object_info[entry["class_type"]]
        by_id[node_id]["outputs"] = [
            {"name": name, "type": kind, "links": outgoing.get((node_id, slot), []), "slot_index": slot}
            for slot, (kind, name) in enumerate(zip(info["output"], info.get("output_name") or info["output"]))]
    for link in pending:
        links.append(list(link[:3]) + [int(link[3])] + list(link[4:]))
        links[-1][1] = int(links[-1][1])
    return {"last_node_id": max(int(k) for k in workflow), "last_link_id": link_id, "nodes": nodes,
            "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
            "version": 0.4}


def load_object_info(source: str) -> dict:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:
            return json.load(response)
    return json.loads(Path(source).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--object-info", default="http://127.0.0.1:8188/object_info",
                        help="a running server's /object_info URL, or a saved copy")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    object_info = load_object_info(args.object_info)
    for name, make in EXAMPLES.items():
        workflow = make()
        (args.out / f"{name}.api.json").write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")
        (args.out / f"{name}.json").write_text(json.dumps(to_ui(workflow, object_info), indent=2) + "\n",
                                               encoding="utf-8")
        print(f"wrote {name}.api.json and {name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
