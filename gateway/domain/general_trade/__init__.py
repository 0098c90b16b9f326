"""General trade (regime 0110, import or export): the declaration order (``order``), its JSON Schema
(``order.schema.json``), intake (``intake.parse_gt_order``) and business rules (``rules``, codes with
effective dates included). docs/general-trade.md."""
