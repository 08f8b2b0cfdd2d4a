"""The lab intake server: REST API (FastAPI, OpenAPI at /openapi.json) and a small web page.

``vitrify serve`` runs it with uvicorn on 127.0.0.1:8765 unless VITRIFY_INTAKE_HOST /
VITRIFY_INTAKE_PORT say otherwise. See docs/lab.md.
"""
