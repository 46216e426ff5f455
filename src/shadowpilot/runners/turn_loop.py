"""The one per-call loop: events in, the agent asked at each customer turn, a CallRun out."""

from __future__ import annotations

import asyncio

from ..errors import AgentError, AgentUnreachable
from ..types import AgentInput, AgentStep, CallRun, Recommendation, Turn
from .agent import Agent
from .events import CallEnded, CallStarted, EventSource, Utterance
from .masking import mask, mask_model
from .reach import ReachWatch

DEFAULT_MAX_REPLY_CHARS = 20_000


def cap_reply(rec: Recommendation, max_chars: int = DEFAULT_MAX_REPLY_CHARS) -> Recommendation:
    """The recommendation with a reply longer than `max_chars` cut there, ending in a marker that
    says how long it was: the decision is still scored, the store and the shadow log stay small."""
    reply = rec.reply
    if reply is None or len(reply) <= max_chars:
        return rec
    return rec.model_copy(update={"reply": reply[:max_chars] + f" [reply cut: {len(reply):,} characters]"})


async def ask(
    agent: Agent,
    ctx: AgentInput,
    timeout_s: float,
    reach: ReachWatch | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> tuple[Recommendation | None, str | None]:
    """One answer within the deadline, or the error that replaces it: any agent failure is a
    failed case, never a harness crash. Replay and shadow mode both ask through here, so the
    reply cap and secret masking (runners.masking) hold for what either stores or prints.
    `reach` hears whether the agent was reached (a cached answer does not say so); the replay's
    ReachCheck raises RunAborted out of here when it never was."""
    rec, error = await _ask(agent, ctx, timeout_s, reach)
    if rec is not None:
        return cap_reply(mask_model(rec), max_reply_chars), None
    return None, mask(error or "")


async def _ask(
    agent: Agent, ctx: AgentInput, timeout_s: float, reach: ReachWatch | None
) -> tuple[Recommendation | None, str | None]:
    try:
        rec = await asyncio.wait_for(agent.recommend(ctx), timeout=timeout_s)
    except AgentUnreachable as exc:
        if reach is not None:
            reach.unreachable(exc)
        return None, str(exc)
    except TimeoutError:  # says nothing either way: a slow agent, or a host that drops packets
        return None, f"timeout after {timeout_s:g} s at turn {ctx.turn}"
    except AgentError as exc:
        error = str(exc)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    else:
        if reach is not None and not rec.cached:
            reach.answered()
        return rec, None
    if reach is not None:
        reach.answered()  # something answered, if only with an error of its own
    return None, error


async def run_call(
    source: EventSource,
    agent: Agent,
    *,
    fingerprint: str,
    repeat: int = 0,
    all_turns: bool = False,
    timeout_s: float = 30.0,
    reach: ReachWatch | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> CallRun:
    """Ask the agent at every customer turn, with the real conversation so far.

    Stops asking after the agent's first escalation (unless `all_turns`) or its
    first failure: a failure fails the case, so later turns cannot rescue it.
    """
    case_id, channel, customer = "", "voice", {}
    conversation: list[Turn] = []
    steps: list[AgentStep] = []
    customer_turns = 0
    error: str | None = None
    escalated = False
    async for event in source:
        if isinstance(event, CallStarted):
            case_id, channel, customer = event.case_id, event.channel, event.customer
        elif isinstance(event, Utterance):
            conversation.append(event.turn)
            if event.turn.speaker != "customer":
                continue
            ordinal = customer_turns
            customer_turns += 1
            if error is not None or (escalated and not all_turns):
                continue
            if event.asr_error is not None:  # nothing heard: the agent cannot answer, the case fails
                error = f"ASR failed at turn {event.index}: {mask(event.asr_error)}"
                steps.append(AgentStep(turn=event.index, customer_turn=ordinal, error=error))
                continue
            ctx = AgentInput(
                case_id=case_id,
                turn=event.index,
                channel=channel,
                customer=customer,
                turns=list(conversation),
                repeat=repeat,
            )
            rec, error = await ask(agent, ctx, timeout_s, reach, max_reply_chars)
            if rec is not None:
                if rec.case_id != case_id or rec.turn != event.index:
                    rec = rec.model_copy(update={"case_id": case_id, "turn": event.index})
                steps.append(AgentStep(turn=event.index, customer_turn=ordinal, recommendation=rec, heard=event.heard))
                escalated = escalated or rec.escalate
                continue
            steps.append(AgentStep(turn=event.index, customer_turn=ordinal, error=error, heard=event.heard))
        elif isinstance(event, CallEnded):
            break
    return CallRun(case_id=case_id, fingerprint=fingerprint, repeat=repeat, steps=steps, error=error)
