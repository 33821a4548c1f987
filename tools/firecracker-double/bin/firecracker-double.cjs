#!/usr/bin/env node
// CommonJS on purpose: it loads the one-file bundle (scripts/bundle.mjs) without starting the ESM loader.
'use strict';
require('../dist/firecracker-double.cjs');
