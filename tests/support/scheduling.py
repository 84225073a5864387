"""How pytest-xdist shares the suite between its workers (`-n 3 --dist loadfile`, as
scripts/test.sh and pyproject's addopts run it; tests/conftest.py hands this scheduler over).

A test module runs on one worker, so a fixture it shares between its tests (a module-scoped
sandbox run, a PostgreSQL load, the SDK's class-scoped standard sync) is set up once, not once
per worker. tests/external/ is one unit: its tests each start programs of their own (a Meltano
project installing the tap, a PostgreSQL server, the PyAirbyte and airbyte-cdk virtualenvs), so
two of them at once on two cores only slow each other down. It is the longest unit, so it goes
first, while the other workers take the modules.

(pytest-xdist's own grouping by `xdist_group` marks, `--dist loadgroup`, does nothing on pytest 9.2:
it renames the collected tests through a field pytest no longer reads.)
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling
from xdist.workermanage import WorkerController

#: The directory whose tests form one unit, run first (nodeids are relative to the root).
EXTERNAL = "tests/external/"


class ModulesExternalFirst(LoadFileScheduling):
    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(EXTERNAL):
            return EXTERNAL
        return super()._split_scope(nodeid)

    def _assign_work_unit(self, node: WorkerController) -> None:
        if EXTERNAL in self.workqueue:
            self.workqueue.move_to_end(EXTERNAL, last=False)
        super()._assign_work_unit(node)
