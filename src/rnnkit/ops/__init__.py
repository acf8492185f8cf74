"""Pure tensor functions: parallel scans, masks, fused kernels."""

from rnnkit.ops.scan import heinsen_scan_log, linear_scan_log

__all__ = ["heinsen_scan_log", "linear_scan_log"]
