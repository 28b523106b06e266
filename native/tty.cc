// tty: see docs/internals/plan.md
