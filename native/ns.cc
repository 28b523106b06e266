// ns: see docs/internals/plan.md
