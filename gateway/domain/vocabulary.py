"""Closed vocabularies of the domain that the storage, the settings and the views share (light on
purpose: the settings import it, and ``gateway audit verify`` must not load the database layer)."""

AGENCIES = ("customs", "inspection", "fx", "tax")      # the single window's four: 关 检 汇 税
