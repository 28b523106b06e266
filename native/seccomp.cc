// seccomp: see docs/internals/plan.md
