"""`tierocr deploy`: GPU presets, deployment plans, the post-deployment check and cloud pods."""
