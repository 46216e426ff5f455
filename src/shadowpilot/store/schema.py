"""Schema migrations for the tenant store, applied in order, each in one transaction.

Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: cases (versioned by content fingerprint), runs, the agent's steps, scores, gate results.
    """
    CREATE TABLE cases (
        case_id VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        seq BIGINT NOT NULL,                 -- import order: a case's newest version is current
        imported_at TIMESTAMPTZ NOT NULL,
        source VARCHAR,                      -- the file it came from
        tenant VARCHAR,
        channel VARCHAR,
        started_at TIMESTAMPTZ,
        critical BOOLEAN NOT NULL,
        tags VARCHAR[] NOT NULL,
        n_turns INTEGER NOT NULL,
        n_customer_turns INTEGER NOT NULL,
        expected_escalated BOOLEAN NOT NULL,
        expected_at_turn INTEGER,            -- index in turns (DESIGN.md at_turn)
        expected_at_customer_turn INTEGER,   -- the same turn, counted among customer turns
        expected_reason VARCHAR,
        expected_urgency VARCHAR,
        expected_queue VARCHAR,
        expected_routing JSON,
        body JSON NOT NULL,                  -- the whole Transcript
        PRIMARY KEY (case_id, fingerprint)
    );
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        mode VARCHAR NOT NULL,               -- replay | shadow
        status VARCHAR NOT NULL,             -- running | complete | interrupted | failed
        agent_kind VARCHAR NOT NULL,
        manifest JSON NOT NULL
    );
    CREATE TABLE run_cases (
        run_id VARCHAR NOT NULL,
        case_id VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,        -- the case version this run used
        repeat INTEGER NOT NULL,
        error VARCHAR,                       -- an agent error makes the case fail
        n_steps INTEGER NOT NULL,
        PRIMARY KEY (run_id, case_id, repeat)
    );
    CREATE TABLE steps (
        run_id VARCHAR NOT NULL,
        case_id VARCHAR NOT NULL,
        repeat INTEGER NOT NULL,
        turn INTEGER NOT NULL,               -- index in turns of the customer turn answered
        customer_turn INTEGER NOT NULL,      -- its ordinal among customer turns
        escalate BOOLEAN,
        reply VARCHAR,
        reason VARCHAR,
        urgency VARCHAR,
        routing JSON,
        queue VARCHAR,
        summary VARCHAR,
        sentiment VARCHAR,
        latency_ms DOUBLE,
        first_token_ms DOUBLE,
        tokens_in BIGINT,
        tokens_out BIGINT,
        cost_usd DOUBLE,
        error VARCHAR
    );
    CREATE TABLE scores (
        run_id VARCHAR NOT NULL,
        case_id VARCHAR NOT NULL,
        repeat INTEGER NOT NULL,
        scored_at TIMESTAMPTZ NOT NULL,
        decision VARCHAR,                    -- tp | fp | fn | tn (null on an agent error)
        timing VARCHAR,                      -- on_time | early | late (null when not scored)
        turn_delta INTEGER,                  -- agent minus human, in customer turns
        routing_ok BOOLEAN,
        attributes JSON,                     -- per attribute: true (match) / false (mismatch)
        passed BOOLEAN NOT NULL,
        error BOOLEAN NOT NULL,
        critical BOOLEAN NOT NULL,
        why VARCHAR,
        PRIMARY KEY (run_id, case_id, repeat)
    );
    CREATE TABLE gate_results (
        run_id VARCHAR NOT NULL,
        evaluated_at TIMESTAMPTZ NOT NULL,
        verdict VARCHAR NOT NULL,
        pass_rate DOUBLE NOT NULL,
        cases INTEGER NOT NULL,
        passed_cases INTEGER NOT NULL,
        result JSON NOT NULL
    );
    """,
    # 2: the response cache (a rerun of an unchanged agent on unchanged cases makes no requests),
    #    and which steps came from it.
    """
    CREATE TABLE response_cache (
        key VARCHAR PRIMARY KEY,             -- hash of (agent config, prompt hash, conversation so far)
        agent_kind VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        recommendation JSON NOT NULL         -- as first measured: latency, tokens and cost included
    );
    ALTER TABLE steps ADD COLUMN cached BOOLEAN DEFAULT false;
    """,
    # 3: rulings (adjudication) on disagreements between the AI and the human, per case version.
    #    History is kept: the newest ruling on a case version supersedes the older ones.
    #    ai_* is the AI's decision the ruling was made on; `ai_right` makes it the expected outcome.
    """
    CREATE TABLE rulings (
        ruling_id BIGINT PRIMARY KEY,        -- order of recording: the highest per case version is current
        case_id VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,        -- the case version ruled on
        run_id VARCHAR NOT NULL,             -- the run it was ruled from
        ruling VARCHAR NOT NULL,             -- human_right | ai_right | unclear
        note VARCHAR,
        ruled_by VARCHAR NOT NULL,
        ruled_at TIMESTAMPTZ NOT NULL,
        ai_escalated BOOLEAN NOT NULL,
        ai_at_turn INTEGER,
        ai_at_customer_turn INTEGER,
        ai_reason VARCHAR,
        ai_urgency VARCHAR,
        ai_queue VARCHAR,
        ai_routing JSON
    );
    """,
    # 4: what scoring keeps per case beyond pass/fail: reply measures (corpus-level over the case's
    #    scored turns), cost and worst latencies of the call, escalation hops, the handoff check and
    #    the case's weighted penalty (see evals/).
    """
    ALTER TABLE scores ADD COLUMN reply_turns INTEGER;
    ALTER TABLE scores ADD COLUMN reply_wer DOUBLE;
    ALTER TABLE scores ADD COLUMN reply_mer DOUBLE;
    ALTER TABLE scores ADD COLUMN reply_cer DOUBLE;
    ALTER TABLE scores ADD COLUMN cost_usd DOUBLE;
    ALTER TABLE scores ADD COLUMN latency_ms_max DOUBLE;
    ALTER TABLE scores ADD COLUMN first_token_ms_max DOUBLE;
    ALTER TABLE scores ADD COLUMN hops INTEGER;
    ALTER TABLE scores ADD COLUMN handoff_ok BOOLEAN;
    ALTER TABLE scores ADD COLUMN penalty DOUBLE;
    """,
    # 5: the LLM judge's verdict on each agent reply (one row per judged turn; judging a run again
    #    replaces its rows). The judge's answers are cached in response_cache (agent_kind 'judge').
    """
    CREATE TABLE judgements (
        run_id VARCHAR NOT NULL,
        case_id VARCHAR NOT NULL,
        repeat INTEGER NOT NULL,
        turn INTEGER NOT NULL,               -- index in turns of the customer turn answered
        model VARCHAR NOT NULL,              -- the judge model
        rubric_hash VARCHAR NOT NULL,        -- sha256 of the rubric text it was given
        correctness INTEGER,                 -- 1-5 (null on a judge error)
        policy INTEGER,
        tone INTEGER,
        score DOUBLE,                        -- (mean of the three - 1) / 4, in [0, 1]
        reasons JSON,                        -- criterion -> the judge's reason
        error VARCHAR,                       -- why the turn could not be judged
        cost_usd DOUBLE,                     -- as first measured (a cached answer keeps it)
        cached BOOLEAN NOT NULL,
        judged_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (run_id, case_id, repeat, turn)
    );
    """,
    # 6: what the store knows of itself: `tenant`, the tenant it was created for (a config naming
    #    another is refused, so two tenants can never share a store).
    """
    CREATE TABLE store_meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    );
    """,
    # 7: managing the store. `archived_at`: a case left out of the stored selection by `import
    #    --replace` (every version of it; restorable, never replayed by default while set). `case_set`:
    #    which stored cases a replay run was given (imported | files | twilio | shadow | all; runs
    #    before this replayed every case: all). `audit_note`: what happened since a ruling was made
    #    (its case or its run removed, when), so the history of rulings stays whole.
    """
    ALTER TABLE cases ADD COLUMN archived_at TIMESTAMPTZ;
    ALTER TABLE runs ADD COLUMN case_set VARCHAR;
    UPDATE runs SET case_set = 'all' WHERE mode = 'replay';
    ALTER TABLE rulings ADD COLUMN audit_note VARCHAR;
    """,
    # 8: audio runs (`run --audio`): per customer turn, what the ASR heard of its audio (the text the
    #    agent was given in place of the transcript's), the engine's time from the end of the turn's
    #    speech to that text, the audio's length and what hearing it cost. All null in a text run.
    #    Per scored case: the customer turns heard and their word error rate (evals/scorers/asr.py).
    """
    ALTER TABLE scores ADD COLUMN asr_turns INTEGER;
    ALTER TABLE scores ADD COLUMN asr_wer DOUBLE;
    ALTER TABLE steps ADD COLUMN heard VARCHAR;
    ALTER TABLE steps ADD COLUMN asr_ms DOUBLE;
    ALTER TABLE steps ADD COLUMN audio_s DOUBLE;
    ALTER TABLE steps ADD COLUMN asr_cost_usd DOUBLE;
    """,
]
