"""The HTTP service: a stateless FastAPI app over :mod:`samplechop.service.engine`.

``create_app(settings)`` (in :mod:`samplechop.service.api.app`) assembles it; :func:`samplechop.service.api.server.run`
serves it.
"""
