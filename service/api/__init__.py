"""The HTTP service: a stateless FastAPI app over :mod:`service.engine`.

``create_app(settings)`` (in :mod:`service.api.app`) assembles it; :func:`service.api.server.run` serves it.
"""
