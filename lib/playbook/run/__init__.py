"""Run: the runner (papermill over the days), the notebook harness, the run manifest, the multi-GPU benchmark."""
