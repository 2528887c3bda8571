"""``claidex demo``, ``claidex run`` and ``claidex top``: the asset graph from the command line.

Both run commands execute the same job the Dagster UI launches
(``claidex_full_refresh``, built by ``claidex_assets.definitions``), recorded
in the Dagster instance at ``DAGSTER_HOME`` so the runs appear in the UI.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from claidex_assets.errors import ClaidexError, ConfigurationError
from claidex_assets.settings import Settings

logger = logging.getLogger(__name__)

# SQLite storage under DAGSTER_HOME, as dagster.yaml at the repository root sets up.
DEMO_INSTANCE_YAML = """\
run_retries:
  enabled: true
  max_retries: 1
telemetry:
  enabled: false
"""

def _instance_yaml_text() -> str:
    """Return the repository's dagster.yaml when the project runs from a checkout, else the minimal one."""
    checkout_yaml = Path(__file__).resolve().parents[1] / "dagster.yaml"
    if checkout_yaml.exists():
        return checkout_yaml.read_text()
    return DEMO_INSTANCE_YAML


TOP_QUERY = """
SELECT npi, risk_score, risk_label, r_raw, flags
FROM provider_risk_scores
ORDER BY risk_score DESC, r_raw DESC, npi
LIMIT %s
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo", help="generate a small dataset, load it, run the whole asset graph and show the riskiest providers"
    )
    _add_common(demo)
    demo.add_argument("--scale", default="small", help="generator scale: small, national or a fraction (default small)")
    demo.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    demo.set_defaults(handler=run_demo)

    run = subparsers.add_parser("run", help="run the whole asset graph on the configured Postgres and graph")
    _add_common(run)
    run.set_defaults(handler=run_pipeline)

    top = subparsers.add_parser("top", help="print the riskiest providers from provider_risk_scores")
    _add_common(top)
    top.add_argument("--limit", type=int, default=10, help="rows to print (default 10)")
    top.set_defaults(handler=lambda args: print_top(_settings(args), args.limit))

    stop = subparsers.add_parser(
        "stop-db", help="stop the embedded PostgreSQL server that the demo and the pipeline leave running"
    )
    _add_common(stop)
    stop.set_defaults(handler=stop_database)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data folder for generated files, stored assets and the embedded Postgres "
        "(default: CLAIDEX_DATA_DIR or ./.claidex)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.data_dir:
        settings = replace(settings, data_dir=args.data_dir)
    return settings


def _instance(settings: Settings):
    """Open the Dagster instance at DAGSTER_HOME, defaulting to <data dir>/dagster_home."""
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        home = Path(settings.data_dir).resolve() / "dagster_home"
        try:
            home.mkdir(parents=True, exist_ok=True)
            instance_yaml = home / "dagster.yaml"
            if not instance_yaml.exists():
                instance_yaml.write_text(_instance_yaml_text())
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the Dagster home {home} ({exc.strerror}); set CLAIDEX_DATA_DIR or --data-dir "
                "to a writable folder, or DAGSTER_HOME to an existing Dagster home"
            ) from exc
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def execute_full_refresh(settings: Settings, show_tracebacks: bool = False) -> str:
    """Run ``claidex_full_refresh`` over every NPI partition in this process; return the run id.

    The run's events go to stderr; a failed step's stack trace only when ``show_tracebacks``.
    Raises ClaidexError naming the failed step and the cause of its failure.
    """
    from claidex_assets.definitions import build_definitions
    from claidex_assets.jobs import FULL_JOB_NAME, partition_range_tags
    from claidex_assets.npi import partition_keys

    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(FULL_JOB_NAME).with_logger_defs({"console": _console_logger(show_tracebacks)})
    with _instance(settings) as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=partition_range_tags(partition_keys(settings.partition_count)),
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
    if not result.success:
        raise ClaidexError(f"run {result.run_id} failed: {failure_reason(result.all_events)}")
    return result.run_id


# Class names of the exceptions whose message is written for the user.
_USER_ERRORS = {"ClaidexError", "ConfigurationError", "InputDataError"}


def failure_reason(events) -> str:
    """Return one line naming the failed steps and the cause of the first failure.

    The cause is the message of the first ClaidexError in the error's chain
    (Dagster wraps it in DagsterExecutionStepExecutionError), else the
    description of a ``dagster.Failure``, else the innermost error.
    """
    failures = [event for event in events if event.is_step_failure]
    if not failures:
        return "no step failed; see the Dagster run log for the reason"
    first = failures[0]
    data = first.step_failure_data
    chain = []
    error = data.error
    while error is not None:
        chain.append(error)
        error = error.cause
    user_error = next((item for item in chain if item.cls_name in _USER_ERRORS), None)
    if user_error is not None:
        # The message starts with "module.ClassName: ".
        cause = user_error.message.split(": ", 1)[-1]
    elif data.user_failure_data is not None and data.user_failure_data.description:
        cause = data.user_failure_data.description
    elif chain:
        cause = chain[-1].message
    else:
        cause = "unknown error"
    reason = f"step {first.step_key} failed: {' '.join(cause.split())}"
    others = [event.step_key for event in failures[1:]]
    if others:
        reason += f" (steps that failed too: {', '.join(others)})"
    return reason


def _console_logger(show_tracebacks: bool):
    """Build Dagster's console log for the command line; it shows stack traces only when asked."""
    import dagster as dg

    @dg.logger(
        config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
        description="Run events on stderr, one line each unless stack traces are requested.",
    )
    def console(init_context):
        run_logger = logging.Logger("dagster", level=init_context.logger_config["log_level"].upper())
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s dagster: %(message)s"))
        if not show_tracebacks:
            handler.addFilter(_without_error_detail)
        run_logger.addHandler(handler)
        return run_logger

    return console


def _without_error_detail(record: logging.LogRecord) -> bool:
    # Dagster appends a failed step's error and stack trace after a blank line.
    record.msg = record.getMessage().split("\n\n", 1)[0]
    record.args = ()
    return True


def run_demo(args: argparse.Namespace) -> int:
    from claidex_assets import postgres
    from claidex_assets.sources.generator import generate
    from claidex_assets.sources.graph_build import load_all

    settings = _settings(args)
    data_dir = Path(settings.data_dir)
    files_dir = data_dir / "source-files"
    print(f"Generating a {args.scale} dataset in {files_dir} ...")
    generate(files_dir, scale=args.scale, seed=args.seed, reuse=True)

    url = os.environ.get("CLAIDEX_POSTGRES_URL") or postgres.resolve_postgres_url(data_dir)
    with postgres.connect(url) as conn:
        postgres.apply_schema(conn)
        print("Loading the files into Postgres and writing the ownership graph CSV files ...")
        load_all(files_dir, conn, data_dir / "graph")

    print("Materializing the asset graph through Dagster ...")
    run_id = execute_full_refresh(settings, show_tracebacks=getattr(args, "traceback", False))
    print(f"Run {run_id} succeeded.")
    print(f"  Scores:        table provider_risk_scores in {postgres.mask_url(url)}")
    print(f"  Stored assets: {(data_dir / 'assets').resolve()}")
    print(f"  Dagster runs:  DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
    print(f"  Dagster UI:    DAGSTER_HOME={os.environ['DAGSTER_HOME']} ./dev ui")
    print()
    print_top(settings, 10, url=url)
    print()
    print("The warnings about non-UTF-8 bytes and the quarantined rows above come from faults that the")
    print("generator plants on purpose. The embedded PostgreSQL server keeps running for the next command")
    print("and the UI; stop it with `./dev claidex stop-db`.")
    return 0


def stop_database(args: argparse.Namespace) -> int:
    from claidex_assets import postgres

    data_dir = Path(_settings(args).data_dir)
    if postgres.stop_embedded_server(data_dir):
        print(f"Stopped the embedded PostgreSQL server in {data_dir.resolve() / 'postgres'}.")
    else:
        print(f"No embedded PostgreSQL server is running in {data_dir.resolve() / 'postgres'}.")
    return 0


def run_pipeline(args: argparse.Namespace) -> int:
    settings = _settings(args)
    run_id = execute_full_refresh(settings, show_tracebacks=getattr(args, "traceback", False))
    print(f"Run {run_id} succeeded.")
    print_top(settings, 10)
    return 0


def print_top(settings: Settings, limit: int, url: str | None = None) -> int:
    from claidex_assets import postgres

    url = url or os.environ.get("CLAIDEX_POSTGRES_URL") or postgres.resolve_postgres_url(Path(settings.data_dir))
    with postgres.connect(url) as conn:
        if postgres.missing_relations(conn, [postgres.OUTPUT_TABLE]):
            raise ConfigurationError(
                f"table {postgres.OUTPUT_TABLE} is missing in database {conn.info.dbname!r} at "
                f"{postgres.mask_url(url)}; run `claidex init-db`, load the sources and run `claidex run` to fill it"
            )
        rows = conn.execute(TOP_QUERY, (limit,)).fetchall()
    print(f"Top {len(rows)} providers by risk score:")
    print(f"{'NPI':<12} {'score':>6} {'label':<9} {'r_raw':>8}  flags")
    for npi, score, label, r_raw, flags in rows:
        flag_list = flags if isinstance(flags, list) else json.loads(flags or "[]")
        print(f"{npi:<12} {float(score):>6.2f} {label:<9} {float(r_raw):>8.4f}  {'; '.join(flag_list) or '-'}")
    return 0
