"""The ComfyUI harness itself: a tiny schema-API pack, written here, runs in a real server.

It proves that a pack given to ``start_comfyui`` is loaded, that a custom socket type carries a
Python object between nodes, that model folders reach ``folder_paths``, that a workflow queued
over HTTP writes its file into the private output folder (read back through ``/view``), and that
a bad input comes back as a validation error rather than a run.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
import pytest
from comfy_server import PromptRejected

pytestmark = pytest.mark.slow

PACK_SOURCE = textwrap.dedent(
    '''
    import os

    import numpy as np
    import folder_paths
    from comfy_api.latest import ComfyExtension, io

    Ramp = io.Custom("VB_HARNESS_RAMP")


    def _model_files():
        names = []
        for folder in folder_paths.get_folder_paths("vb_harness_models"):
            if os.path.isdir(folder):
                names.extend(sorted(os.listdir(folder)))
        return names or ["(none)"]


    class HarnessRamp(io.ComfyNode):
        """Red channel of the first image plus ``scale`` times a row-major ramp."""

        @classmethod
        def define_schema(cls):
            return io.Schema(
                node_id="VBHarnessRamp",
                display_name="VB harness: ramp",
                category="vb_harness",
                inputs=[
                    io.Image.Input("image"),
                    io.Float.Input("scale", default=1.0),
                    io.Combo.Input("model", options=_model_files()),
                ],
                outputs=[Ramp.Output(display_name="ramp")],
            )

        @classmethod
        def validate_inputs(cls, scale):
            if scale <= 0:
                return f"scale must be positive, got {scale}"
            return True

        @classmethod
        def execute(cls, image, scale, model):
            height, width = image.shape[1:3]
            ramp = np.arange(height * width, dtype=np.float32).reshape(height, width) * scale
            return io.NodeOutput({"values": image[0, :, :, 0].numpy() + ramp, "model": model})


    class HarnessSaveNpy(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            return io.Schema(
                node_id="VBHarnessSaveNpy",
                category="vb_harness",
                inputs=[Ramp.Input("ramp"), io.String.Input("filename_prefix", default="harness/ramp")],
                outputs=[],
                is_output_node=True,
            )

        @classmethod
        def execute(cls, ramp, filename_prefix):
            values = ramp["values"]
            folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
                filename_prefix, folder_paths.get_output_directory(), values.shape[1], values.shape[0])
            filename = f"{name}_{counter:05}_.npy"
            np.save(os.path.join(folder, filename), values)
            saved = {"filename": filename, "subfolder": subfolder, "type": "output", "model": ramp["model"]}
            return io.NodeOutput(ui={"arrays": [saved]})


    class HarnessExtension(ComfyExtension):
        async def get_node_list(self):
            return [HarnessRamp, HarnessSaveNpy]


    async def comfy_entrypoint():
        return HarnessExtension()
    '''
)


@pytest.fixture(scope="module")
def server(start_comfyui, tmp_path_factory):
    root = tmp_path_factory.mktemp("harness")
    pack = root / "vb_harness_pack"
    pack.mkdir()
    (pack / "__init__.py").write_text(PACK_SOURCE, encoding="utf-8")
    models = root / "models"
    models.mkdir()
    (models / "tiny-model.safetensors").write_bytes(b"")
    return start_comfyui(custom_nodes=[pack], model_paths={"vb_harness_models": [models]})


def ramp_workflow(scale: float, model: str = "tiny-model.safetensors") -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 5, "height": 3, "batch_size": 1, "color": 0xFF0000}},
        "2": {"class_type": "VBHarnessRamp", "inputs": {"image": ["1", 0], "scale": scale, "model": model}},
        "3": {"class_type": "VBHarnessSaveNpy", "inputs": {"ramp": ["2", 0], "filename_prefix": "harness/ramp"}},
    }


def test_pack_loads_with_its_custom_socket_and_model_folder(server):
    assert server.custom_node_import_failures() == []
    ramp = server.object_info("VBHarnessRamp")
    assert ramp["output"] == ["VB_HARNESS_RAMP"]
    assert ramp["input"]["required"]["model"][1]["options"] == ["tiny-model.safetensors"]
    save = server.object_info("VBHarnessSaveNpy")
    assert save["input"]["required"]["ramp"][0] == "VB_HARNESS_RAMP"
    assert save["output_node"] is True


def test_queued_workflow_writes_npy_into_output_folder(server):
    history = server.queue(ramp_workflow(scale=0.5))

    saved = history["outputs"]["3"]["arrays"][0]
    assert saved["subfolder"] == "harness" and saved["model"] == "tiny-model.safetensors"
    served = np.load(io.BytesIO(server.view(saved["filename"], saved["subfolder"])))
    expected = 1.0 + 0.5 * np.arange(15, dtype=np.float32).reshape(3, 5)
    np.testing.assert_array_equal(served, expected)
    assert served.dtype == np.float32
    assert (server.output_dir / saved["subfolder"] / saved["filename"]).is_file()


def test_invalid_input_is_a_validation_error_not_a_run(server):
    with pytest.raises(PromptRejected) as rejected:
        server.queue(ramp_workflow(scale=-2.0))

    assert rejected.value.status == 400
    assert rejected.value.response["error"]["type"] == "prompt_outputs_failed_validation"
    errors = rejected.value.response["node_errors"]["2"]["errors"]
    assert [e["type"] for e in errors] == ["custom_validation_failed"]
    assert errors[0]["details"] == "scale - scale must be positive, got -2.0"
    assert "scale must be positive" in str(rejected.value)
