#!/usr/bin/env node
// The Agent as it ships: one bundled file (scripts/bundle.mjs; ADR 0011).
import '../dist/hearth-agent.mjs';
