#!/usr/bin/env node
// The Manager as it ships: one bundled file (scripts/bundle.mjs; ADR 0011). A committed executable,
// since npm ci links the command before the build writes dist/.
import '../dist/hearth-manager.mjs';
