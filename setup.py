"""Ships the adapter folders inside the wheel as ``vb_plugins._adapters.<name>`` (see vb_plugins/adapters.py).

Everything else about the package is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

ADAPTERS = ("fiftyone_plugin", "comfyui_nodes")

packages = find_packages(include=["vb_plugins", "vb_plugins.*"])
package_dir = {"": "."}
for adapter in ADAPTERS:
    target = f"vb_plugins._adapters.{adapter}"
    packages.append(target)
    package_dir[target] = adapter
    for sub in find_packages(where=adapter):
        packages.append(f"{target}.{sub}")
        package_dir[f"{target}.{sub}"] = f"{adapter}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir,
      package_data={f"vb_plugins._adapters.{a}": ["*.yml", "*.txt", "*.md", "workflows/*.json"] for a in ADAPTERS})
