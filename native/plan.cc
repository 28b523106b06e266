// plan: see docs/internals/plan.md
