"""What the three order formats (``cbec_import``, ``cbec_export``, ``general_trade``) share: parties,
goods-line data and checks, money, the China time zone and dates, and reading JSON against a schema.
Imports nothing of ours outside ``gateway.domain.problems``."""
