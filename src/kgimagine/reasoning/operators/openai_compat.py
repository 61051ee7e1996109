"""``OpenAICompatibleOperator``: an imagination step answered by any OpenAI-compatible chat server.

It POSTs ``{base_url}/chat/completions`` (vLLM, Ollama, llama.cpp server, OpenAI, ...) with the
step prompt of ``traces.render_step_messages`` and returns the message content unparsed (the
reasoning graph parses, verifies and re-asks). ``response_format={"type": "json_object"}`` is sent
by default; ``json_mode="schema"`` sends ``traces.step_answer_schema(step)`` instead (a JSON
Schema whose fact ids are an enum of the retrieved ids, so a server with schema-constrained
decoding such as vLLM cannot invent an id). A server that rejects either (HTTP 400 naming
``response_format``) is asked again without it, once, and remembered.

Retries are bounded and chosen by error type: HTTP 429, 5xx and connection/timeouts are retried up
to ``max_retries`` times with exponential backoff (``Retry-After`` honoured, capped); 401/403 and
other 4xx are final. Every failure is an ``OperatorError`` whose message names the URL, the status
and the fix — never the API key, which is also scrubbed from any server text we quote.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from kgimagine.errors import OperatorError
from kgimagine.traces import StepInput, render_step_messages, step_answer_schema

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


class OpenAICompatibleOperator:
    """Calls ``{base_url}/chat/completions``; ``base_url`` usually ends in ``/v1``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60,
        max_retries: int = 3,
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        json_mode: bool | str = True,
        backoff_s: float = 1.0,
        transport: Any = None,
    ) -> None:
        if not base_url or not str(base_url).startswith(("http://", "https://")):
            raise OperatorError(f"base_url {base_url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        if not model:
            raise OperatorError("model must name the served model (e.g. the --served-model-name given to vllm serve)")
        if json_mode not in (True, False, "schema"):
            raise OperatorError(f"json_mode={json_mode!r} must be True, False or 'schema'")
        if max_retries < 0:
            raise OperatorError(f"max_retries={max_retries} must be >= 0")
        import httpx  # light, but only operators that talk HTTP need it

        self.base_url = str(base_url).rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.json_mode = json_mode
        self.backoff_s = backoff_s
        self.__api_key = api_key or None  # name-mangled: never in repr/logs
        headers = {"Content-Type": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)
        self._lock = threading.Lock()
        self.stats = {"calls": 0, "requests": 0, "retries": 0, "seconds": 0.0}

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def __repr__(self) -> str:
        return f"OpenAICompatibleOperator(base_url={self.base_url!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def build_messages(self, step: StepInput, feedback: str | None = None) -> list[dict[str, str]]:
        messages = render_step_messages(step)
        if feedback:
            messages[-1] = {
                "role": "user",
                "content": messages[-1]["content"] + f"\nYour previous answer was refused: {feedback}",
            }
        return messages

    def imagine(self, step: StepInput, *, feedback: str | None = None) -> str:
        t0 = time.perf_counter()
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": self.build_messages(step, feedback),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.json_mode == "schema":
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "step_answer", "schema": step_answer_schema(step), "strict": True},
            }
        elif self.json_mode:
            payload["response_format"] = {"type": "json_object"}
        data = self._post_with_retries(payload)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise OperatorError(
                f"{self._url()} answered without choices[0].message.content: {self._scrub(json.dumps(data)[:200])}"
            ) from exc
        with self._lock:
            self.stats["calls"] += 1
            self.stats["seconds"] += time.perf_counter() - t0
        return content if isinstance(content, str) else ""

    # -- HTTP ------------------------------------------------------------------------------------
    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _post_with_retries(self, payload: dict[str, Any]) -> dict[str, Any]:
        import httpx

        attempt = 0
        while True:
            with self._lock:
                self.stats["requests"] += 1
            try:
                resp = self._client.post(self._url(), json=payload)
            except httpx.TimeoutException as exc:
                reason, retry_after = f"timed out after {self.timeout} s", None
                cause: Exception = exc
            except httpx.TransportError as exc:
                reason, retry_after = f"connection failed ({type(exc).__name__})", None
                cause = exc
            else:
                if resp.status_code == 200:
                    try:
                        data = resp.json()
                    except ValueError as exc:
                        raise OperatorError(f"{self._url()} answered HTTP 200 with a body that is not JSON") from exc
                    if not isinstance(data, dict):
                        raise OperatorError(f"{self._url()} answered HTTP 200 with JSON that is not an object")
                    return data
                if resp.status_code in (401, 403):
                    raise OperatorError(
                        f"{self._url()} refused the request (HTTP {resp.status_code}): "
                        + ("the API key was rejected; check the key you passed" if self.__api_key
                           else "no API key was sent; pass api_key (or set it in the CLI settings)")
                    )
                if resp.status_code == 400 and "response_format" in payload and "response_format" in resp.text:
                    payload = {k: v for k, v in payload.items() if k != "response_format"}
                    self.json_mode = False  # this server does not do JSON mode; stop asking
                    continue
                if resp.status_code not in RETRY_STATUSES:
                    raise OperatorError(
                        f"{self._url()} answered HTTP {resp.status_code}: {self._scrub(resp.text[:300])} "
                        f"(check base_url and that model {self.model!r} is served there)"
                    )
                reason = f"HTTP {resp.status_code}"
                retry_after = _retry_after(resp.headers.get("retry-after"))
                cause = None  # type: ignore[assignment]
            if attempt >= self.max_retries:
                raise OperatorError(
                    f"{self._url()} failed after {attempt + 1} attempts (last: {reason}); "
                    "is the server up and not overloaded? raise max_retries or timeout"
                ) from cause
            delay = retry_after if retry_after is not None else self.backoff_s * (2**attempt)
            with self._lock:
                self.stats["retries"] += 1
            time.sleep(min(max(delay, 0.0), MAX_BACKOFF_S))
            attempt += 1

    def _scrub(self, text: str) -> str:
        return text.replace(self.__api_key, "***") if self.__api_key else text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
