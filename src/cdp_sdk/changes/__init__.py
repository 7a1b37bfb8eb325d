"""Bulk changes across platforms: plan, apply, resume.

The same change to many SIMs on many platforms, planned before it is made, applied within
each platform's limits, journaled, and resumable after any crash::

    from cdp_sdk import Workspace
    from cdp_sdk.changes import ChangeSet
    from cdp_sdk.sync import Store

    changes = ChangeSet.from_csv("changes.csv")        # iccid,status,tag:customer
    with Workspace.load("cdp.toml") as workspace, Store("cdp.db") as store:
        plan = changes.plan(workspace)                  # live states; nothing is changed
        print(plan)                                     # a table; plan.to_json() for JSON
        plan.save("changes.plan.json")
        report = plan.apply(workspace, store=store)     # journaled in the store
        print(report.summary())

A :class:`ChangeSet` holds each SIM's wanted state; :meth:`ChangeSet.plan` resolves each
SIM to its account (an ICCID in no account, or in two, is an error line), reads its state
(live, or from the store with its age shown) and decides the calls, refusing before any
call what the platform cannot do. :meth:`Plan.apply` makes the calls, account by account
in parallel, journaling each intent and outcome; applying the same plan again resumes it.

The core needs no optional extra; journaling into the store (``store=``) and planning
from it need the ``sync`` extra.
"""

from cdp_sdk.changes._apply import (
    AccountFinished,
    AccountStarted,
    ApplyEvent,
    ApplyOptions,
    CallStarting,
    SimFinished,
)
from cdp_sdk.changes._changeset import DEFAULT_MAX_CHANGES, NO_VALUE, REMOVE, ChangeSet
from cdp_sdk.changes._errors import ChangeSetError, PlanFileError, TooManyChangesError
from cdp_sdk.changes._journal import ChangeJournal, JournalEntry, MemoryJournal
from cdp_sdk.changes._model import (
    ApplyReport,
    Change,
    Decision,
    Outcome,
    Plan,
    PlannedCall,
    PlannedChange,
    Reason,
    SimOutcome,
    SimState,
    Step,
    StepOutcome,
)
from cdp_sdk.changes._planner import iccid_forms

__all__ = [
    "DEFAULT_MAX_CHANGES",
    "NO_VALUE",
    "REMOVE",
    "AccountFinished",
    "AccountStarted",
    "ApplyEvent",
    "ApplyOptions",
    "ApplyReport",
    "CallStarting",
    "Change",
    "ChangeJournal",
    "ChangeSet",
    "ChangeSetError",
    "Decision",
    "JournalEntry",
    "MemoryJournal",
    "Outcome",
    "Plan",
    "PlanFileError",
    "PlannedCall",
    "PlannedChange",
    "Reason",
    "SimFinished",
    "SimOutcome",
    "SimState",
    "Step",
    "StepOutcome",
    "TooManyChangesError",
    "iccid_forms",
]
