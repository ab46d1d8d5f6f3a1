"""What the OpenAPI document shows besides the schemas: an example problem of each type, an example result
document, and the problem+json ``responses`` entries built from them (used by the routes' decorators).

Documentation only: nothing here is answered to a request. The problems themselves, and the handlers that answer
them, are in :mod:`samplechop.service.api.problems`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from samplechop.service.api.problems import PROBLEM_MEDIA_TYPE, problem_type

# One example per problem type a route can answer, by status then slug (the titles are the problems' own).
PROBLEM_EXAMPLES: dict[int, dict[str, dict[str, Any]]] = {
    400: {
        "malformed-request": {
            "type": problem_type("malformed-request"),
            "title": "Malformed request body",
            "status": 400,
            "detail": "the multipart body ended before its closing boundary",
            "instance": "/chop",
        }
    },
    404: {
        "result-not-found": {
            "type": problem_type("result-not-found"),
            "title": "No such result",
            "status": 404,
            "detail": "no result with this id (it may have expired)",
            "instance": "/chops/3q2-7wEjXyQ0G8dVvB1Ylw.zip",
        }
    },
    408: {
        "request-timeout": {
            "type": problem_type("request-timeout"),
            "title": "Request timeout",
            "status": 408,
            "detail": "the request body did not arrive in time (no data for 20 s)",
        }
    },
    413: {
        "upload-too-large": {
            "type": problem_type("upload-too-large"),
            "title": "Upload too large",
            "status": 413,
            "detail": "the request body exceeds 104857600 bytes",
            "instance": "/chop",
            "max_upload_bytes": 104857600,
        }
    },
    415: {
        "not-audio": {
            "type": problem_type("not-audio"),
            "title": "Not a supported audio file",
            "status": 415,
            "detail": "not a readable audio file (WAV, FLAC, OGG or MP3 expected): Format not recognised.",
            "instance": "/chop",
        },
        "unsupported-request-type": {
            "type": problem_type("unsupported-request-type"),
            "title": "multipart/form-data expected",
            "status": 415,
            "detail": "send the record as the `file` field of a multipart/form-data body",
            "instance": "/chop",
        },
    },
    422: {
        "invalid-parameters": {
            "type": problem_type("invalid-parameters"),
            "title": "Invalid parameters",
            "status": 422,
            "detail": "query.lambda: Input should be less than or equal to 1",
            "instance": "/chop",
            "errors": [
                {
                    "loc": ["query", "lambda"],
                    "msg": "Input should be less than or equal to 1",
                    "type": "less_than_equal",
                }
            ],
        },
        "record-too-long": {
            "type": problem_type("record-too-long"),
            "title": "Record too long",
            "status": 422,
            "detail": "the record is 912.4 s long; the limit is 600 s",
            "instance": "/chop",
        },
        "beyond-analysis-limits": {
            "type": problem_type("beyond-analysis-limits"),
            "title": "Audio beyond the analysis limits",
            "status": 422,
            "detail": "the record has 64 channels; at most 32 are analysed",
            "instance": "/chop",
        },
        "silent-record": {
            "type": problem_type("silent-record"),
            "title": "Silent record",
            "status": 422,
            "detail": "the record is silent: there is nothing to chop",
            "instance": "/chop",
        },
    },
    503: {
        "not-ready": {
            "type": problem_type("not-ready"),
            "title": "Model not loaded yet",
            "status": 503,
            "detail": "the chop model is still loading",
            "instance": "/readyz",
        },
        "busy": {
            "type": problem_type("busy"),
            "title": "Too many uploads at once",
            "status": 503,
            "detail": "8 uploads are being handled; retry after 2 s",
            "instance": "/chop",
            "max_concurrent_uploads": 8,
        },
    },
}


def problem_responses(*statuses: int, slugs: set[str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given statuses, with the examples above (only ``slugs`` when given)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "examples": {
                        slug: {"value": value}
                        for slug, value in PROBLEM_EXAMPLES.get(status, {}).items()
                        if slugs is None or slug in slugs
                    },
                }
            },
        }
        for status in statuses
    }


def _example_chop(index: int, start: float, end: float, tonic: str, rank: int) -> dict[str, Any]:
    return {
        "index": index,
        "start": start,
        "end": end,
        "attack": round(start + 0.005, 6),
        "probability": 0.98,
        "score": 0.99,
        "rank": rank,
        "downbeat": True,
        "mode": "bars",
        "loop": True,
        "bars": 1,
        "beats": 4.0,
        "tempo_bpm": 120.0,
        "note": 35 + index,
        "key": {"tonic": tonic, "mode": "major", "confidence": 0.13, "correlation": 0.48},
        "file": f"drum-break_{index:02d}.wav",
    }


# A 6-s drum break with chords at 120 BPM, chopped with mode=bars (measured on tests/synth.py's beat_record, then
# rounded): each chop one bar from a downbeat.
CHOP_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "duration": 6.0,
    "sample_rate": 44100,
    "channels": 2,
    "model_id": "chop-f2-42d2361f72ec",
    "feature_version": "2",
    "slug": "drum-break",
    "tempo_bpm": 120.0,
    "beats_per_bar": 4,
    "key": {
        "tonic": "D",
        "mode": "major",
        "confidence": 0.02,
        "correlation": 0.35,
        "method": "krumhansl-schmuckler/temperley on tonal-weighted chroma",
    },
    "grid": {
        "beats": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5],
        "downbeats": [0.0, 2.0, 4.0],
    },
    "params": {
        "chops": 4,
        "top_n": 16,
        "lambda": 0.999,
        "threshold": 0.7,
        "min_distance_s": 0.25,
        "max_length_s": None,
        "bit_depth": 16,
        "mode": "bars",
        "bars": None,
        "beats": 1.0,
        "one_shot_max_s": 2.0,
        "loop_crossfade_s": 0.01,
        "root_note": 36,
        "export": "zip",
        "points": None,
        "snap": "off",
    },
    "candidates": 3,
    "chops": [
        _example_chop(1, 0.0, 2.0, "D", 1),
        _example_chop(2, 1.995011, 3.995011, "C", 2),
        _example_chop(3, 3.995034, 5.995034, "C", 3),
    ],
    "exports": ["drum-break.sfz", "drum-break.xpm", "drum-break.mid"],
    "id": "3q2-7wEjXyQ0G8dVvB1Ylw",
    "zip_url": "/chops/3q2-7wEjXyQ0G8dVvB1Ylw.zip",
}
