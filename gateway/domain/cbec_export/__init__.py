"""Cross-border e-commerce export (9610, 1210/1239 special zone): the order model (``order``), its JSON
Schema (``order.schema.json``), intake (``intake.parse_export_order``) and business rules (``rules``).
docs/export.md."""
