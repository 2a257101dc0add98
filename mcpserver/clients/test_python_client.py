"""`trialbook mcp` driven by a client we did not write: the Python `mcp` SDK.

It starts `bin/trialbook mcp DIR` over stdio, lists the tools, runs two
trials end to end (one with a failing cell replaced in place), reads the
leaderboard through the `experiment` tool and a notebook through resources,
and checks that the journal names the client and that no response carries a
holdout score. Run by `make test-mcp-clients` (pytest).
"""

import asyncio
import json
import math
import os
import pathlib
import random

import nbformat
import pytest
from mcp import ClientSession, Implementation, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "bin" / "trialbook"

RIDGE = """from sklearn.linear_model import Ridge
import numpy as np
oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))
for tr, va in folds:
    m = Ridge(alpha=ALPHA).fit(X.iloc[tr], np.log(y.iloc[tr]))
    oof[va] = np.exp(m.predict(X.iloc[va]))
    hold += np.exp(m.predict(X_holdout)) / len(folds)
print("fold models:", len(folds))"""


def write_experiment(d: pathlib.Path) -> None:
    rng = random.Random(7)
    rows = ["Id,area,rooms,price"]
    for i in range(150):
        area, rooms = 50 + rng.random() * 150, rng.randint(1, 5)
        price = math.exp(10 + area / 100 + rooms / 10 + rng.gauss(0, 0.2))
        rows.append(f"{i + 1},{area:.1f},{rooms},{price:.0f}")
    (d / "homes.csv").write_text("\n".join(rows) + "\n")
    (d / "problem.jsonnet").write_text(
        "local tb = import 'trialbook.libsonnet';\n"
        "tb.regression { name: 'homes', data: 'homes.csv', target: 'price', metric: 'rmse',\n"
        "  validation: tb.kfold(3), holdout: 0.2, trials: 2, features: tb.features(ids=['Id']) }\n"
    )


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def drive(d: pathlib.Path, responses: list) -> None:
    env = dict(os.environ)
    env["PATH"] = str(ROOT / ".venv" / "bin") + os.pathsep + env.get("PATH", "")
    params = StdioServerParameters(command=str(BIN), args=["mcp", str(d)], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, client_info=Implementation(name="python-sdk-client", version="1.0")) as s:
            await s.initialize()
            tools = await s.list_tools()
            names = sorted(t.name for t in tools.tools)
            assert names == ["abandon_trial", "experiment", "finish_trial", "replace_cell", "run_cell", "start_trial", "trial"], names
            for t in tools.tools:
                assert t.description and t.input_schema.get("type") == "object", t

            async def call(name, **args):
                r = await s.call_tool(name, args)
                responses.append(r.model_dump_json())
                return r

            r = await call("experiment")
            assert not r.is_error and "No trials yet" in text_of(r), text_of(r)

            # Trial 1: a cell that raises, replaced in place, then scored.
            r = await call("start_trial", title="Ridge on log price", plan="Ridge on a log target.")
            assert not r.is_error and "Trial 1 started" in text_of(r), text_of(r)
            r = await call("run_cell", trial=1, code="ALPHA = undefined_alpha")
            assert "raised NameError" in text_of(r), text_of(r)
            r = await call("replace_cell", trial=1, index=0, code="ALPHA = 1.0", note="undefined name")
            assert not r.is_error and "raised" not in text_of(r), text_of(r)
            r = await call("run_cell", trial=1, code=RIDGE)
            assert "fold models: 3" in text_of(r), text_of(r)
            r = await call("run_cell", trial=1, code="hand_back(oof, hold)")
            assert not r.is_error, text_of(r)
            r = await call("finish_trial", trial=1)
            assert not r.is_error and "scored by the harness: rmse CV" in text_of(r) and "Kept" in text_of(r), text_of(r)

            # Trial 2: a stronger ridge, scored too.
            r = await call("start_trial", title="Ridge alpha 30", plan="More regularisation than trial 1.")
            assert "Trial 2 started" in text_of(r), text_of(r)
            for code in ["ALPHA = 30.0", RIDGE, "hand_back(oof, hold)"]:
                r = await call("run_cell", trial=2, code=code)
                assert not r.is_error and "raised" not in text_of(r), text_of(r)
            r = await call("finish_trial", trial=2)
            assert not r.is_error and "Trial 2 scored" in text_of(r), text_of(r)

            # The budget (2 trials) is spent: a third is refused.
            r = await call("start_trial", title="third", plan="over budget")
            assert r.is_error and "budget is spent" in text_of(r), text_of(r)

            # The leaderboard, as the model reads it.
            r = await call("experiment")
            board = text_of(r)
            assert "| 1" in board and "| 2" in board and "(best)" in board and "trials: 2 done of 2" in board, board

            res = await s.list_resources()
            uris = {str(x.uri) for x in res.resources}
            assert "trialbook:///AGENTS.md" in uris and "trialbook:///trials/001-ridge-on-log-price.ipynb" in uris, uris
            nb = await s.read_resource("trialbook:///trials/001-ridge-on-log-price.ipynb")
            responses.append(nb.model_dump_json())
            nbformat.validate(nbformat.reads(nb.contents[0].text, as_version=4))


def test_python_sdk_runs_two_trials(tmp_path):
    if not BIN.exists():
        pytest.skip("no bin/trialbook: run make build")
    write_experiment(tmp_path)
    responses: list = []
    asyncio.run(drive(tmp_path, responses))

    events = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    proposed = [e for e in events if e["type"] == "trial.proposed"]
    assert [e.get("agent") for e in proposed] == ["python-sdk-client"] * 2, proposed  # the clientInfo name
    kept = [e for e in events if e["type"] in ("trial.kept", "trial.discarded")]
    assert len(kept) == 2, kept
    holdouts = [e["score"]["holdout"] for e in kept if e.get("score", {}).get("holdout") is not None]
    assert holdouts, "the journal has no holdout score: nothing was checked"
    blob = "\n".join(responses)
    for h in holdouts:
        for form in (repr(h), f"{h:.6g}", f"{h:.5g}", f"{h:.4g}"):
            assert form not in blob, f"a response carries the holdout score {form}"
    for e in events:
        if e["type"] == "trial.proposed":
            nb = nbformat.read(tmp_path / e["notebook"], as_version=4)
            nbformat.validate(nb)
    assert events[-1]["type"] == "experiment.finished", events[-1]
