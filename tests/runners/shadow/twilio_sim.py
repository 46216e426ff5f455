"""Twilio's side of a shadow call, for tests and the load bench: events signed exactly as Twilio signs them.

Form bodies are signed with twilio's RequestValidator over `public_url + route`
and the parameters; JSON bodies over the URL carrying `bodySHA256`. The server
under test is a real `shadowpilot shadow serve` subprocess on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

TOKEN = "test_auth_token_not_real"
PUBLIC_URL = "https://shadow.example.test"
RTT = "/twilio/transcriptions"
CONV = "/twilio/conversations"
TASKS = "/twilio/taskrouter"
ACCOUNT = "AC" + "0" * 32


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def signed_form(params: dict[str, str], route: str, *, token: str = TOKEN, url: str | None = None) -> dict[str, Any]:
    """Request kwargs (content + headers) for a form POST signed as Twilio signs it."""
    signature = RequestValidator(token).compute_signature(url or PUBLIC_URL + route, params)
    return {
        "content": urlencode(params).encode(),
        "headers": {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    }


def signed_json(body: dict[str, Any], route: str, *, token: str = TOKEN) -> tuple[str, dict[str, Any]]:
    """(path with ?bodySHA256=..., request kwargs) for a JSON POST signed as Twilio signs it."""
    raw = json.dumps(body)
    digest = hashlib.sha256(raw.encode()).hexdigest()
    path = f"{route}?bodySHA256={digest}"
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, {})
    return path, {
        "content": raw.encode(),
        "headers": {"X-Twilio-Signature": signature, "Content-Type": "application/json"},
    }


class Call:
    """One voice call's Real-Time Transcription and TaskRouter events, numbered as Twilio numbers them."""

    def __init__(self, n: int):
        self.n = n
        self.call_sid = sid("CA", n)
        self.gt = sid("GT", n)
        self.task = sid("WT", n)
        self.seq = 0

    def _rtt(self, event: str, **extra: str) -> dict[str, str]:
        self.seq += 1
        return {
            "AccountSid": ACCOUNT,
            "CallSid": self.call_sid,
            "TranscriptionSid": self.gt,
            "TranscriptionEvent": event,
            "SequenceId": str(self.seq),
            "Timestamp": "2026-11-20T14:03:00.000Z",
            **extra,
        }

    def started(self) -> tuple[str, dict[str, str]]:
        return RTT, self._rtt("transcription-started", LanguageCode="en-US")

    def said(self, speaker: str, text: str) -> tuple[str, dict[str, str]]:
        track = "inbound_track" if speaker == "customer" else "outbound_track"
        data = json.dumps({"transcript": text, "confidence": 0.93})
        return RTT, self._rtt("transcription-content", Track=track, Final="true", TranscriptionData=data)

    def stopped(self) -> tuple[str, dict[str, str]]:
        return RTT, self._rtt("transcription-stopped")

    def task_event(self, event_type: str, queue: str, attributes: dict[str, Any] | None = None, **extra: str):
        """A TaskRouter callback. No `Timestamp` unless given (Timestamp=...): tests build events
        before sending them, so a stamp taken here would claim an earlier moment than the one the
        sequence means, and Twilio's time is what places an escalation."""
        attrs = {"call_sid": self.call_sid, "direction": "inbound", **(attributes or {})}
        params = {
            "EventType": event_type,
            "AccountSid": ACCOUNT,
            "WorkspaceSid": sid("WS", 1),
            "ResourceType": "task",
            "ResourceSid": self.task,
            "TaskSid": self.task,
            "TaskQueueName": queue,
            "TaskQueueSid": "WQ" + hashlib.md5(queue.encode()).hexdigest(),
            "TaskChannelUniqueName": "voice",
            "TaskAttributes": json.dumps(attrs),
            **extra,
        }
        return TASKS, params


class ServerProcess:
    """`shadowpilot shadow serve --port 0` in a subprocess, in a tenant folder."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None):
        self.folder = folder
        self.env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "PYTHONPATH": str(folder), **(env or {})}
        self.env = {k: v for k, v in self.env.items() if not k.startswith("SHADOWPILOT_")}
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""
        self.stderr: list[str] = []

    def start(self, timeout: float = 60) -> ServerProcess:
        script = Path(sys.executable).parent / "shadowpilot"
        self.proc = subprocess.Popen(
            [str(script), "shadow", "serve", "--port", "0"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited ({self.proc.wait()}): {''.join(self.stderr)[-3000:]}")
            m = re.search(r"listening on (http://[\d.]+:\d+)", line)
            if m:
                self.base = m.group(1)
                return self
        raise RuntimeError("server did not start in time")

    def _drain_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.stderr.append(line)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
