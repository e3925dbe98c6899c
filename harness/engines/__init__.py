"""The dense inference engines a user would deploy instead of our kernels, as backends.

Each module registers one or two entries of ``harness.backends.BACKENDS`` through
``engines.base.engine``: torch at its best for CPU inference, ONNX Runtime (CPU execution
provider) and OpenVINO (fp32 forced, and its default precision as a separate row).
"""

from harness.engines import onnxrt, openvino_cpu, torch_best  # noqa: F401  (registration)
