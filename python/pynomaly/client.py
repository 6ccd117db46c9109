"""A client for the Pynomaly HTTP API (``pynomaly serve``, the container, or API Gateway →
Lambda), on ``requests``.

Every method sends the API's own fields (see ``/openapi.json``); keyword arguments not
named in a signature are passed through as body fields, so a field the API adds is usable
at once. An answer with an error status raises the ``ApiError`` subclass of its status
(``BadRequest``, ``Unauthorized``, ``NotFound``, ``Conflict``, ``PayloadTooLarge``,
``RateLimited``, ``ServerError``) carrying the problem's ``status``, ``title`` and
``detail``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union
from urllib.parse import quote, urljoin

import numpy as np
import requests

from .exceptions import STATUS_ERRORS, ApiError, RateLimited, ServerError

FileLike = Union[str, "os.PathLike[str]", bytes]

_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".ndjson": "application/x-ndjson",
    ".jsonl": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
}

#: Job states after which a job no longer changes.
FINISHED = ("succeeded", "failed")


def _rows(data: Any) -> Dict[str, Any]:
    """Rows for a JSON body: a DataFrame as ``records`` (its column names are the
    features), anything else as ``data`` (a list of rows of numbers)."""
    if hasattr(data, "columns") and hasattr(data, "to_dict"):
        return {"records": json.loads(data.to_json(orient="records"))}
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"data must be 2-dimensional (rows x features), got {matrix.ndim} dimension(s)")
    return {"data": matrix.tolist()}


def _file(source: FileLike, content_type: Optional[str]) -> "tuple[bytes, str]":
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), content_type or "text/csv"
    path = Path(source)
    guessed = _CONTENT_TYPES.get(path.suffix.lower())
    if content_type is None and guessed is None:
        raise ValueError(
            f"cannot tell the format of {path.name}: name it .csv, .json, .ndjson or .parquet, "
            "or pass content_type"
        )
    return path.read_bytes(), content_type or str(guessed)


def _fields(**fields: Any) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class Job:
    """A queued scoring job: ``refresh()`` its record, ``wait()`` for it to finish,
    ``results()`` as CSV text."""

    def __init__(self, client: "Client", record: Dict[str, Any]) -> None:
        self._client = client
        self.record = record

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def state(self) -> str:
        return str(self.record["state"])

    def refresh(self) -> "Job":
        self.record = self._client.job(self.id)
        return self

    def wait(self, timeout: float = 600.0, poll: float = 0.5) -> "Job":
        """Polls until the job has succeeded or failed (a failed job is returned, not
        raised: its ``record["error"]`` says why); ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.refresh().state not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} is still {self.state} after {timeout} s")
            time.sleep(poll)
        return self

    def results(self, anomalies_only: bool = False, offset: Optional[int] = None,
                limit: Optional[int] = None) -> str:
        return self._client.job_results(self.id, anomalies_only=anomalies_only, offset=offset, limit=limit)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, state={self.state!r})"


class Client:
    """The Pynomaly HTTP API at ``url`` (e.g. ``http://127.0.0.1:8000``), authenticated
    with ``api_key`` (sent as ``x-api-key``; None for a server run with ``--no-auth``)."""

    def __init__(self, url: str, api_key: Optional[str] = None, *, timeout: float = 60.0,
                 session: Optional[requests.Session] = None) -> None:
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout
        self.session = session or requests.Session()
        self._headers = {"x-api-key": api_key} if api_key else {}

    # --- transport ---------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json_body: Any = None, data: Optional[bytes] = None,
                 content_type: Optional[str] = None, params: Optional[Dict[str, Any]] = None,
                 absolute: bool = False) -> requests.Response:
        url = path if absolute else urljoin(self.url, path.lstrip("/"))
        headers = dict(self._headers) if not absolute or url.startswith(self.url) else {}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["content-type"] = content_type
        response = self.session.request(method, url, data=data, params=params, headers=headers,
                                        timeout=self.timeout)
        if response.status_code >= 400:
            raise self._problem(response)
        return response

    @staticmethod
    def _problem(response: requests.Response) -> ApiError:
        status = response.status_code
        try:
            problem = response.json()
            if not isinstance(problem, dict):
                raise ValueError
        except ValueError:
            problem = {"detail": response.text[:500]}
        cls = STATUS_ERRORS.get(status) or (ServerError if status >= 500 else ApiError)
        error = cls(status, str(problem.get("title") or response.reason or ""),
                    str(problem.get("detail") or ""), str(problem.get("type") or "about:blank"), problem)
        retry = response.headers.get("retry-after")
        if isinstance(error, (RateLimited, ServerError)) and retry:
            try:
                error.retry_after = float(retry)  # type: ignore[attr-defined]
            except ValueError:
                pass
        return error

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # --- service -----------------------------------------------------------------------
    def health(self) -> Dict[str, Any]:
        return self._json("GET", "/health")

    def algorithms(self) -> List[Dict[str, Any]]:
        answer = self._json("GET", "/api/v1/algorithms")
        return answer["algorithms"] if isinstance(answer, dict) and "algorithms" in answer else answer

    # --- detection ---------------------------------------------------------------------
    def detect(self, data: Any, *, algorithm: Optional[str] = None, parameters: Optional[Dict[str, Any]] = None,
               contamination: Optional[float] = None, threshold: Optional[float] = None,
               explain: Optional[bool] = None, **fields: Any) -> Dict[str, Any]:
        """Fits ``algorithm`` on ``data`` (rows of numbers, or a DataFrame) and scores the
        same rows: ``POST /api/v1/detect``."""
        body = {**_rows(data), **_fields(algorithm=algorithm, parameters=parameters, contamination=contamination,
                                         threshold=threshold, explain=explain, **fields)}
        return self._json("POST", "/api/v1/detect", json_body=body)

    def detect_file(self, file: FileLike, *, content_type: Optional[str] = None, **query: Any) -> Dict[str, Any]:
        """Detects on a CSV, NDJSON or Parquet file sent as it is (options as query
        parameters: ``algorithm="ecod"``, ``contamination=0.05``...)."""
        data, ctype = _file(file, content_type)
        return self._json("POST", "/api/v1/detect", data=data, content_type=ctype, params=_query(query))

    def timeseries(self, values: Iterable[float], timestamps: Optional[Iterable[Any]] = None, *,
                   method: Optional[str] = None, **fields: Any) -> Dict[str, Any]:
        """``POST /api/v1/timeseries/detect``."""
        body = {"values": [float(v) for v in values], **_fields(method=method, **fields)}
        if timestamps is not None:
            body["timestamps"] = [str(t) for t in timestamps]
        return self._json("POST", "/api/v1/timeseries/detect", json_body=body)

    # --- models ------------------------------------------------------------------------
    def create_model(self, data: Any, *, name: Optional[str] = None, algorithm: Optional[str] = None,
                     **fields: Any) -> Dict[str, Any]:
        """Trains and stores a model: ``POST /api/v1/models``."""
        body = {**_rows(data), **_fields(name=name, algorithm=algorithm, **fields)}
        return self._json("POST", "/api/v1/models", json_body=body)

    def models(self) -> List[Dict[str, Any]]:
        return self._json("GET", "/api/v1/models")["models"]

    def model(self, model: str) -> Dict[str, Any]:
        return self._json("GET", f"/api/v1/models/{quote(model, safe='')}")

    def delete_model(self, model: str) -> None:
        self._request("DELETE", f"/api/v1/models/{quote(model, safe='')}")

    def predict(self, model: str, data: Any, **fields: Any) -> Dict[str, Any]:
        """Scores rows with a stored model (id or name): ``POST /api/v1/models/{id}/predict``."""
        body = {**_rows(data), **_fields(**fields)}
        return self._json("POST", f"/api/v1/models/{quote(model, safe='')}/predict", json_body=body)

    # --- jobs --------------------------------------------------------------------------
    def upload(self, file: FileLike, *, filename: Optional[str] = None) -> str:
        """Uploads a file for a job (``POST /api/v1/uploads``, then ``PUT`` to the URL it
        returns — a presigned S3 URL on the S3 backends); returns its ``object_key``."""
        if filename is None:
            filename = "input.csv" if isinstance(file, (bytes, bytearray)) else Path(file).name
        ticket = self._json("POST", "/api/v1/uploads", json_body={"filename": filename})
        data, ctype = _file(file, "text/csv" if isinstance(file, (bytes, bytearray)) else None)
        target = ticket["upload_url"]
        self._request("PUT", urljoin(self.url, target), data=data, content_type=ctype, absolute=True)
        return str(ticket["object_key"])

    def submit_job(self, file: FileLike, *, algorithm: Optional[str] = None, model_id: Optional[str] = None,
                   **fields: Any) -> Job:
        """Uploads ``file`` and queues a job scoring it with ``algorithm`` or the stored
        model ``model_id``: ``POST /api/v1/jobs``. ``wait()`` on the returned job."""
        key = self.upload(file)
        body = {"object_key": key, **_fields(algorithm=algorithm, model_id=model_id, **fields)}
        return Job(self, self._json("POST", "/api/v1/jobs", json_body=body))

    def job(self, job_id: str) -> Dict[str, Any]:
        return self._json("GET", f"/api/v1/jobs/{quote(job_id, safe='')}")

    def jobs(self, state: Optional[str] = None, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """Every job, newest first (all pages)."""
        found: List[Dict[str, Any]] = []
        after = None
        while True:
            page = self._json("GET", "/api/v1/jobs", params=_query(_fields(state=state, limit=limit, after=after)))
            found.extend(page["jobs"])
            after = page.get("next")
            if not after or (limit is not None and len(found) >= limit):
                return found

    def job_results(self, job_id: str, *, anomalies_only: bool = False, offset: Optional[int] = None,
                    limit: Optional[int] = None) -> str:
        params = _query(_fields(anomalies_only=anomalies_only or None, offset=offset, limit=limit))
        return self._request("GET", f"/api/v1/jobs/{quote(job_id, safe='')}/results", params=params).text

    # --- streams -----------------------------------------------------------------------
    def create_stream(self, *, name: str, method: Optional[str] = None, **fields: Any) -> Dict[str, Any]:
        """``POST /api/v1/streams`` (``entity_field``, ``parameters``... as the API takes them)."""
        return self._json("POST", "/api/v1/streams", json_body={"name": name, **_fields(method=method, **fields)})

    def streams(self) -> List[Dict[str, Any]]:
        return self._json("GET", "/api/v1/streams")["streams"]

    def send_points(self, stream_id: str, points: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Scores points as they arrive: ``POST /api/v1/streams/{id}/points``."""
        return self._json("POST", f"/api/v1/streams/{quote(stream_id, safe='')}/points",
                          json_body={"points": points})

    def stream_entities(self, stream_id: str) -> List[Dict[str, Any]]:
        return self._json("GET", f"/api/v1/streams/{quote(stream_id, safe='')}/entities")["entities"]

    def delete_stream(self, stream_id: str) -> None:
        self._request("DELETE", f"/api/v1/streams/{quote(stream_id, safe='')}")


def _query(params: Dict[str, Any]) -> Dict[str, str]:
    """Query parameters as the API reads them: booleans in lower case, lists joined."""
    out = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            out[k] = ",".join(str(x) for x in v)
        else:
            out[k] = str(v)
    return out


__all__ = ["Client", "FINISHED", "Job"]
