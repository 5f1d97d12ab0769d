"""What an engine process is doing now — leading or standing by — for its CLI and its monitor port.

`RoleStatus` is a plain record updated by the engine as it goes; `as_dict`
gives it to whatever exports it (metrics), `lines` to the debug CLI.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

STARTING = "starting"
STANDBY = "standby"
LEADER = "leader"
STEPPING_DOWN = "stepping down"


@dataclass(slots=True)
class RoleStatus:
    configured: str                 # the config's role: "sole" or "standby"
    role: str = STARTING            # starting, standby, leader, stepping down
    term: int = 0                   # the lease term: this engine's while it leads, else the leader's
    leader: str = ""                # who holds the lease ("host pid N")
    applied_id: int = 0             # the last operation in this engine's state
    leader_oper_id: int = 0         # the last operation the leader committed, as last seen
    apply_delay: float = 0.0        # standby: how old the last applied operation was when it was applied (s)
    takeovers: int = 0              # times this process took the lease
    since: float = field(default_factory=time.time)  # when it took its current role (unix time)

    @property
    def lag(self) -> int:
        """Operations the leader committed that this engine has not applied (0 for the leader)."""
        return max(0, self.leader_oper_id - self.applied_id) if self.role != LEADER else 0

    def become(self, role: str) -> None:
        self.role = role
        self.since = time.time()

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["lag"] = self.lag
        return data

    def lines(self) -> str:
        return (f"role: {self.role}\n"
                f"configured role: {self.configured}\n"
                f"term: {self.term}\n"
                f"leader: {self.leader}\n"
                f"applied ID: {self.applied_id}\n"
                f"leader committed ID: {self.leader_oper_id}\n"
                f"lag: {self.lag}\n"
                f"apply delay ms: {self.apply_delay * 1000:.1f}\n"
                f"takeovers: {self.takeovers}\n"
                f"since: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.since))}\n")
