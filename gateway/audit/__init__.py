"""Audit evidence: the hash chain, checkpoints, evidence bundles and XML comparison.

Everything here works without a database: ``chain`` and ``xmldiff`` are pure, ``checkpoint``
signs and verifies with a key given in, ``bundle`` writes and reads zip files. The database side
(staging records in a transaction, reading the chain back) lives in ``gateway.store.audit_chain``
and the services in ``gateway.service.audit`` / ``evidence`` / ``replay`` / ``retention``; an
auditor verifies a bundle offline with ``gateway audit verify BUNDLE.zip``, which imports only this
package, ``gateway.signing`` and ``gateway.schemas``.
"""
