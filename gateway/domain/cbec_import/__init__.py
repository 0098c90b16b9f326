"""Cross-border e-commerce retail import (1210 bonded, 9610 direct mail): the order model (``order``),
its JSON Schema (``order.schema.json``), intake (``intake.parse_import_order``) and business rules
(``rules``). docs/order-format.md."""
