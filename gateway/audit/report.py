"""Findings of a verification: one line each, naming what was checked and what is wrong."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    level: str       # ok | warn | fail
    subject: str     # a file in a bundle, "chain", "head", a table row ...
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper():<4} {self.subject}: {self.message}"

    def as_dict(self) -> dict:
        return {"level": self.level, "subject": self.subject, "message": self.message}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "fail"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warn"]

    def add(self, level: str, subject: str, message: str) -> None:
        if level not in ("ok", "warn", "fail"):
            raise ValueError(f"level must be ok, warn or fail, not {level!r}")
        self.findings.append(Finding(level, subject, message))

    def summary(self, what: str = "verification") -> str:
        passed = sum(f.level == "ok" for f in self.findings)
        if self.ok:
            return f"{what} passed: {passed} checks OK, {len(self.warnings)} warning(s)"
        return f"{what} FAILED: {len(self.failures)} failure(s), {len(self.warnings)} warning(s), {passed} checks OK"

    def as_dict(self) -> dict:
        return {"ok": self.ok, "failures": len(self.failures), "warnings": len(self.warnings),
                "findings": [f.as_dict() for f in self.findings]}
