// caps: see docs/internals/plan.md
