#!/usr/bin/env -S node --no-memory-reducer
// The Manager as it ships: one bundled file (scripts/bundle.mjs; ADR 0011). A committed executable,
// since npm ci links the command before the build writes dist/. Its first line gives node the
// Manager's flags, node-flags.json beside it (a test keeps the two equal).
import '../dist/hearth-manager.mjs';
