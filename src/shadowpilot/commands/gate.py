"""`shadowpilot gate`: score a stored run and decide go / no-go (exit 0 / 3)."""

from __future__ import annotations

import typer

from .common import EXIT_NOT_READY, EXIT_OK, JSON_OPTION, RUN_REF, console, emit_json, guarded, settings

GATE_JSON_EXCLUDE = {"config": True}


@guarded
def command(
    ctx: typer.Context,
    run_id: str | None = typer.Option(
        None, "--run", help=f"The run to score: {RUN_REF} (default: the latest complete run)."
    ),
    pass_rate: float | None = typer.Option(None, "--pass-rate", min=0, max=1, help="Override [gate] pass_rate."),
    min_cases: int | None = typer.Option(None, "--min-cases", min=0, help="Override [gate] min_cases."),
    use_lower_bound: bool | None = typer.Option(
        None, "--use-lower-bound/--point-estimate", help="Require the Wilson 95% lower bound to clear the bar."
    ),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Also fail on any case that passed on this run (as for --run) and fails now, "
        "unless the AI was ruled right on it.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Score a run (re-scoring a stored run never calls the agent) and decide.

    Exit 0 when the verdict is go, 3 when it is no-go or insufficient-evidence.
    """
    from ..workflow import gate

    overrides = {
        "gate": {
            k: v
            for k, v in {"pass_rate": pass_rate, "min_cases": min_cases, "use_lower_bound": use_lower_bound}.items()
            if v is not None
        }
    }
    s = settings(ctx, overrides)
    result = gate(s, run_id, baseline=baseline)
    if as_json:
        emit_json(result.model_dump(mode="json", exclude=GATE_JSON_EXCLUDE))
    else:
        from .views import print_gate

        print_gate(console(), result, f"gate · {s.tenant.name} · {result.run_id}")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_NOT_READY)
