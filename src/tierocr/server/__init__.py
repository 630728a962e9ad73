"""tierocr's HTTP API. FastAPI lives behind the `server` extra, so nothing here imports it at package level:
`tierocr --help` and the serverless handler work without it."""
