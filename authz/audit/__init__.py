"""The tamper-evident audit log: the hash chain (``chain``), the log itself (``log``), what a
record holds (``record``), and ``verify``."""

from authz.audit.chain import GENESIS, canonical, seal
from authz.audit.log import AuditLog, AuditOpenError, AuditUnavailable
from authz.audit.record import audit_record, is_decision
from authz.audit.verify import VerifyResult, verify

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditOpenError",
    "AuditUnavailable",
    "VerifyResult",
    "audit_record",
    "canonical",
    "is_decision",
    "seal",
    "verify",
]
